import { isAbsolute, join, resolve } from "node:path";
import type { Logger } from "pino";
import type { SluiceConfig } from "../config/schema.ts";
import type { EventStore } from "../eventstore/port.ts";
import type { SigningKey } from "../identity/signing-key.ts";
import { runRetention } from "./retention.ts";

/** Where archives go: `retention.archiveDir` (relative to the working directory) or `<dataDir>/archive`. */
export function archiveDirOf(config: SluiceConfig): string {
  const configured = config.retention.archiveDir;
  if (!configured) return join(config.dataDir, "archive");
  return isAbsolute(configured) ? configured : resolve(configured);
}

/**
 * Runs retention every `retention.intervalSeconds` when `retention.hotDays` is set. Runs never
 * overlap; a failed run is logged and the next one starts where it stopped (nothing half-removed:
 * each range is one transaction).
 */
export function startRetention(store: EventStore, config: SluiceConfig, key: SigningKey, log: Logger) {
  const { hotDays, intervalSeconds } = config.retention;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const run = () => {
    running = running.then(async () => {
      if (stopped || hotDays === undefined) return;
      try {
        const ranges = await retentionPass(store, config, key, hotDays);
        for (const range of ranges) log.info(range, "ledger range archived and removed");
      } catch (error) {
        log.warn({ err: error }, "retention run failed; the next run starts where it stopped");
      }
    });
    return running;
  };
  const timer =
    hotDays !== undefined && intervalSeconds > 0 ? setInterval(run, intervalSeconds * 1000) : undefined;
  timer?.unref();
  return {
    runNow: run,
    async stop() {
      clearInterval(timer);
      stopped = true;
      await running;
    },
  };
}

/** One pass of retention as the config says (the gateway's timer and `sluice retention run` alike). */
export function retentionPass(
  store: EventStore,
  config: SluiceConfig,
  key: SigningKey,
  hotDays: number,
  dryRun = false,
): ReturnType<typeof runRetention> {
  return runRetention(store, {
    key,
    gatewayInstance: config.instanceId,
    olderThan: new Date(Date.now() - hotDays * 86_400_000),
    archiveDir: archiveDirOf(config),
    maxEventsPerRemoval: config.retention.maxEventsPerRemoval,
    dryRun,
  });
}
