import { Readiness } from "./api/readiness.ts";
import { buildApiServer } from "./api/server.ts";
import type { SluiceConfig } from "./config/schema.ts";
import { openStore } from "./eventstore/open.ts";
import type { EventStore } from "./eventstore/port.ts";
import { PolicyFollower } from "./gate/policy-versions.ts";
import { loadOrCreateSigningKey } from "./identity/signing-key.ts";
import { openScheduler } from "./jobs/open.ts";
import type { Scheduler } from "./jobs/scheduler.ts";
import { startSealer } from "./jobs/sealer.ts";
import { createLogger, type Logger } from "./log.ts";

export interface Gateway {
  readonly store: EventStore;
  readonly log: Logger;
  /** The live policy snapshot, following every published version. */
  readonly policy: PolicyFollower;
  /** Delayed jobs: BullMQ on Redis when configured, in-process otherwise. */
  readonly scheduler: Scheduler;
  /** Base URL of the HTTP API once started. */
  readonly apiUrl: string;
  /** Appends a seal over everything new right now (the sealer also runs on its interval). */
  seal(): Promise<void>;
  /** Stops taking work, flushes pending appends, closes the store. Safe to call twice. */
  stop(): Promise<void>;
}

/** Wires the gateway's parts from config and starts them; tests use it directly. */
export async function startGateway(config: SluiceConfig, options: { log?: Logger } = {}): Promise<Gateway> {
  const log = options.log ?? createLogger(config.log.level, config.instanceId);
  const readiness = new Readiness();
  const key = await loadOrCreateSigningKey(config.ledger.signingKeyFile as string);
  const store = await openStore(config.store);
  readiness.register("store", () => !stopping);
  const policy = new PolicyFollower(store);
  await policy.start();
  readiness.register("policy", () => policy.lastError === null);
  const scheduler = await openScheduler(config, log);
  await scheduler.start();
  if (!policy.current())
    log.warn("no policy published yet: every command is denied (sluice policy apply FILE)");
  const sealer = startSealer(store, {
    key,
    gatewayInstance: config.instanceId,
    intervalMs: config.ledger.sealIntervalSeconds * 1000,
    log,
  });
  const api = buildApiServer({ log, readiness });
  let stopping = false;
  let stopped: Promise<void> | null = null;
  try {
    await api.listen({ host: config.api.host, port: config.api.port });
  } catch (error) {
    await sealer.stop();
    await scheduler.stop();
    await policy.stop();
    await store.close();
    throw error;
  }
  const address = api.server.address();
  const port = typeof address === "object" && address ? address.port : config.api.port;
  const apiUrl = `http://${config.api.host.includes(":") ? `[${config.api.host}]` : config.api.host}:${port}`;
  log.info(
    { store: store.kind, jobs: scheduler.kind, api: apiUrl, keyId: key.keyId },
    "sluice gateway started",
  );

  const stop = async () => {
    stopping = true;
    await api.close();
    await sealer.stop();
    await scheduler.stop();
    await policy.stop();
    await store.close();
    log.info("sluice gateway stopped");
  };

  return {
    store,
    log,
    policy,
    scheduler,
    apiUrl,
    seal: sealer.sealNow,
    stop: () => {
      stopped ??= stop();
      return stopped;
    },
  };
}
