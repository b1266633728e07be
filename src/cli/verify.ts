import { existsSync } from "node:fs";
import type { CryptoKey } from "jose";
import { loadConfig } from "../config/load.ts";
import { openStore } from "../eventstore/open.ts";
import { verifyLedger } from "../eventstore/verify.ts";
import { verifyExport } from "../export/verify-export.ts";
import { loadVerificationKey, publicKeyFile } from "../identity/signing-key.ts";

/**
 * `sluice verify`: walks the whole log, checks every hash chain and seal. Exit 0 when intact,
 * 1 naming the first broken place.
 */
export async function verifyCommand(options: {
  config?: string;
  publicKey?: string;
  export?: string;
}): Promise<number> {
  const config = loadConfig({ file: options.config });
  const keyFile = config.ledger.signingKeyFile as string;
  const key = await loadVerificationKey(
    options.publicKey ?? (existsSync(publicKeyFile(keyFile)) ? publicKeyFile(keyFile) : keyFile),
  );
  if (options.export) return verifyExportCommand(options.export, key.publicKey);
  const store = await openStore(config.store);
  try {
    const report = await verifyLedger(store, key.publicKey, (n) => {
      if (process.stderr.isTTY) process.stderr.write(`\rverified ${n} events…`);
    });
    if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
    const summary =
      `${report.events} events checked in ${report.streams} streams, ${report.seals} seals, ${report.unsealed} events after the last seal` +
      (report.removed
        ? `; ${report.removed.events} events in ${report.removed.ranges} sealed ranges removed by retention after their archive export`
        : "");
    if (report.ok) {
      process.stdout.write(`ledger intact: ${summary}\n`);
      return 0;
    }
    const b = report.broken;
    process.stdout.write(
      `ledger BROKEN at stream "${b?.stream}" revision ${b?.revision} position ${b?.position}: ${b?.reason}\n(${summary} before it)\n`,
    );
    return 1;
  } finally {
    await store.close();
  }
}

/** `sluice verify --export DIR`: exit 0 when the export is intact, 1 naming the first problem. */
async function verifyExportCommand(dir: string, publicKey: CryptoKey): Promise<number> {
  const report = await verifyExport(dir, publicKey);
  const summary = `${report.format ?? "?"} export, ${report.events} events, ${report.records} records in ${report.files} file(s), ${report.seals} seal signatures checked, ${report.sealsProved} Merkle roots recomputed, ${report.unsealedEvents} events after the last seal`;
  if (report.ok) {
    process.stdout.write(`export intact: ${summary}\n`);
    return 0;
  }
  process.stdout.write(`export BROKEN: ${report.problem}\n`);
  return 1;
}
