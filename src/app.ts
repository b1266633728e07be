import { join } from "node:path";
import { collectDefaultMetrics, Registry } from "prom-client";
import { type ReadSide, startReadSide } from "../graphql/read-side.ts";
import { Readiness } from "./api/readiness.ts";
import { buildApiServer } from "./api/server.ts";
import type { SluiceConfig } from "./config/schema.ts";
import { openStore } from "./eventstore/open.ts";
import type { EventStore } from "./eventstore/port.ts";
import { ExportJobs } from "./export/export-jobs.ts";
import { startRetention } from "./export/retention-job.ts";
import type { ApprovalService } from "./gate/approvals.ts";
import type { CredentialService } from "./gate/credentials.ts";
import type { Gate } from "./gate/gate.ts";
import { GateMetrics } from "./gate/metrics.ts";
import { PolicyFollower } from "./gate/policy-versions.ts";
import { buildGateServices } from "./gate/services.ts";
import { OidcVerifier } from "./identity/oidc.ts";
import { loadOrCreateSigningKey } from "./identity/signing-key.ts";
import { openScheduler } from "./jobs/open.ts";
import { rearmExpiries } from "./jobs/rearm.ts";
import type { Scheduler } from "./jobs/scheduler.ts";
import { startSealer } from "./jobs/sealer.ts";
import { createLogger, type Logger } from "./log.ts";
import type { RunningProxy } from "./proxy/context.ts";
import { startProxies } from "./proxy/start.ts";

export interface Gateway {
  readonly store: EventStore;
  readonly log: Logger;
  /** The live policy snapshot, following every published version. */
  readonly policy: PolicyFollower;
  /** Delayed jobs: BullMQ on Redis when configured, in-process otherwise. */
  readonly scheduler: Scheduler;
  /** The one entry point of every proxy, and the services behind it. */
  readonly gate: Gate;
  readonly credentials: CredentialService;
  readonly approvals: ApprovalService;
  /** The proxy ports that are listening. */
  readonly proxies: RunningProxy[];
  /** Projections (read models) and the GraphQL API at /graphql. */
  readonly readSide: ReadSide;
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
  const oidc = config.identity.oidc ? await OidcVerifier.discover(config.identity.oidc) : undefined;
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: "sluice_process_" });
  const services = buildGateServices({
    metrics: new GateMetrics(metrics),
    store,
    scheduler,
    policy: () => policy.current(),
    key,
    gatewayInstance: config.instanceId,
    oidc,
    apiKeys: config.identity.apiKeys,
    notifications: config.notifications,
    log,
  });
  const sealer = startSealer(store, {
    key,
    gatewayInstance: config.instanceId,
    intervalMs: config.ledger.sealIntervalSeconds * 1000,
    log,
  });
  // Archive-then-remove of old sealed ranges, when `retention.hotDays` is set.
  const retention = startRetention(store, config, key, log);
  const exports = new ExportJobs({
    store,
    scheduler,
    key,
    gatewayInstance: config.instanceId,
    dir: join(config.dataDir, "exports"),
  });
  const readSide = await startReadSide({
    config,
    store,
    services,
    exports,
    policy: () => policy.current(),
    sealKey: key.publicKey,
    verifier: oidc,
    readiness,
    log,
  });
  // The in-process scheduler lost its jobs with the last process: re-arm expiries once the read models caught up.
  rearmExpiries({ store, runner: readSide.runner, reads: readSide.reads, scheduler, log }).catch(
    (error: unknown) => log.warn({ err: error }, "expiry jobs could not be re-armed"),
  );
  const api = buildApiServer({ log, readiness, metrics });
  readSide.mount(api);
  let stopping = false;
  let stopped: Promise<void> | null = null;
  let proxies: RunningProxy[] = [];
  try {
    proxies = await startProxies(config.proxies, {
      gate: services.gate,
      policy: () => policy.current(),
      dataDir: config.dataDir,
      log,
      roles: services.roles,
    });
    await api.listen({ host: config.api.host, port: config.api.port });
  } catch (error) {
    await Promise.allSettled(proxies.map((proxy) => proxy.close()));
    await sealer.stop();
    await retention.stop();
    await scheduler.stop();
    await readSide.stop();
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
    // Proxies first: their sessions record SessionEnded while the store is still open.
    await Promise.allSettled(proxies.map((proxy) => proxy.close()));
    await sealer.stop();
    await retention.stop();
    await scheduler.stop();
    await readSide.stop();
    await policy.stop();
    await store.close();
    log.info("sluice gateway stopped");
  };

  return {
    store,
    log,
    policy,
    scheduler,
    ...services,
    proxies,
    readSide,
    apiUrl,
    seal: sealer.sealNow,
    stop: () => {
      stopped ??= stop();
      return stopped;
    },
  };
}
