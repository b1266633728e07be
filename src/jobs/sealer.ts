import type { Logger } from "pino";
import type { EventStore } from "../eventstore/port.ts";
import { type SealOptions, sealNow } from "../eventstore/seal.ts";

/**
 * Runs `sealNow` every `intervalMs` (0: only when asked). Runs never overlap; a failed run is logged and the next
 * one covers its range, so a store outage delays seals but loses none.
 */
export function startSealer(store: EventStore, options: SealOptions & { intervalMs: number; log: Logger }) {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const run = () => {
    running = running.then(async () => {
      if (stopped) return;
      try {
        const seal = await sealNow(store, options);
        if (seal) options.log.info({ count: seal.count, toPosition: seal.toPosition }, "ledger sealed");
      } catch (error) {
        options.log.warn({ err: error }, "ledger seal failed; the next run covers its range");
      }
    });
    return running;
  };
  const timer = options.intervalMs > 0 ? setInterval(run, options.intervalMs) : undefined;
  timer?.unref();
  return {
    /** Seals now (used at shutdown and by tests). */
    sealNow: run,
    async stop() {
      clearInterval(timer);
      stopped = true;
      await running;
    },
  };
}
