/**
 * Child process for the crash-safety test: many concurrent writers append 3-event batches
 * and print `ack <stream> <lastRevision> <position>` once each append has resolved; a
 * sealer runs alongside. The parent kills it with SIGKILL mid-stream.
 */
import { loadConfig } from "../../src/config/load.ts";
import { openStore } from "../../src/eventstore/open.ts";
import { sealNow } from "../../src/eventstore/seal.ts";
import { loadOrCreateSigningKey } from "../../src/identity/signing-key.ts";
import { taskEvent } from "./events.ts";

const [configFile, writersArg] = process.argv.slice(2);
const config = loadConfig({ file: configFile });
const key = await loadOrCreateSigningKey(config.ledger.signingKeyFile as string);
const store = await openStore(config.store);
const writers = Number(writersArg ?? 32);

setInterval(() => {
  sealNow(store, { key, gatewayInstance: "crash" }).catch(() => {});
}, 50);

process.stdout.write("started\n");
await Promise.all(
  Array.from({ length: writers }, async (_, w) => {
    for (let i = 0; ; i++) {
      const stream = `task-w${w}`;
      const result = await store.append(stream, [taskEvent(i), taskEvent(i), taskEvent(i)]);
      process.stdout.write(`ack ${stream} ${result.nextExpectedRevision} ${result.position}\n`);
    }
  }),
);
