import { existsSync } from "node:fs";
import { loadConfig } from "../config/load.ts";
import { openStore } from "../eventstore/open.ts";
import { verifyLedger } from "../eventstore/verify.ts";
import { loadVerificationKey, publicKeyFile } from "../identity/signing-key.ts";

/**
 * `sluice verify`: walks the whole log, checks every hash chain and seal. Exit 0 when intact,
 * 1 naming the first broken place.
 */
export async function verifyCommand(options: { config?: string; publicKey?: string }): Promise<number> {
  const config = loadConfig({ file: options.config });
  const keyFile = config.ledger.signingKeyFile as string;
  const key = await loadVerificationKey(
    options.publicKey ?? (existsSync(publicKeyFile(keyFile)) ? publicKeyFile(keyFile) : keyFile),
  );
  const store = await openStore(config.store);
  try {
    const report = await verifyLedger(store, key.publicKey, (n) => {
      if (process.stderr.isTTY) process.stderr.write(`\rverified ${n} events…`);
    });
    if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
    const summary = `${report.events} events checked in ${report.streams} streams, ${report.seals} seals, ${report.unsealed} events after the last seal`;
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
