import { loadConfig } from "../config/load.ts";
import { SluiceError } from "../errors.ts";
import { openStore } from "../eventstore/open.ts";
import { retentionPass } from "../export/retention-job.ts";
import { loadOrCreateSigningKey } from "../identity/signing-key.ts";

/**
 * `sluice retention run [--hot-days N] [--dry-run]`: archives and removes every sealed range older
 * than the hot period (config `retention.hotDays`, or --hot-days), oldest first.
 */
export async function retentionRunCommand(options: {
  config?: string;
  hotDays?: string;
  dryRun?: boolean;
}): Promise<number> {
  const config = loadConfig({ file: options.config });
  const hotDays = options.hotDays !== undefined ? Number(options.hotDays) : config.retention.hotDays;
  if (hotDays === undefined || !Number.isFinite(hotDays) || hotDays < 0) {
    throw new SluiceError(
      "CONFIG_INVALID",
      "no hot period: set retention.hotDays in the config or pass --hot-days N (N ≥ 0)",
    );
  }
  const key = await loadOrCreateSigningKey(config.ledger.signingKeyFile as string);
  const store = await openStore(config.store);
  try {
    const ranges = await retentionPass(store, config, key, hotDays, options.dryRun);
    if (ranges.length === 0)
      process.stdout.write(`nothing to remove: no sealed range older than ${hotDays} days\n`);
    for (const r of ranges) {
      process.stdout.write(
        options.dryRun
          ? `would archive and remove positions ${r.fromPosition}..${r.toPosition}: ${r.events} events under ${r.seals} seals\n`
          : `archived positions ${r.fromPosition}..${r.toPosition} (${r.events} events, ${r.seals} seals) to ${r.archive}; removed ${r.removed}\n`,
      );
    }
    return 0;
  } finally {
    await store.close();
  }
}
