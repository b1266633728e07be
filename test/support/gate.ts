import { join } from "node:path";
import type { PolicySnapshot } from "../../src/domain/policy/decide.ts";
import type { AccessLevel } from "../../src/domain/policy/document.ts";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { initSqlClassifier } from "../../src/gate/classify/sql.ts";
import type { NotificationsConfig } from "../../src/gate/notify/config.ts";
import { buildGateServices, type GateServices } from "../../src/gate/services.ts";
import type { ApiKeysConfig } from "../../src/identity/api-keys-config.ts";
import type { OidcVerifier } from "../../src/identity/oidc.ts";
import { loadOrCreateSigningKey } from "../../src/identity/signing-key.ts";
import { InProcessScheduler } from "../../src/jobs/in-process.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import type { ProxyContext } from "../../src/proxy/context.ts";
import { policyFrom } from "./policy.ts";
import { makeTempDir } from "./tempdir.ts";

export interface TestGate extends GateServices {
  store: SqliteEventStore;
  scheduler: InProcessScheduler;
  dataDir: string;
  log: Logger;
  /** Replaces the live policy (as a publish would). */
  setPolicy(yaml: string): void;
  /** What a proxy gets from the gateway. */
  context(): ProxyContext;
  /** Declares a task and issues a credential for it; returns the token an agent would present. */
  credential(request: {
    target: string;
    access?: AccessLevel;
    subject?: string;
    groups?: string[];
    ttlMs?: number;
  }): Promise<{ token: string; credentialId: string; taskId: string }>;
  close(): Promise<void>;
}

/**
 * A gate as the gateway wires it, on a throwaway SQLite store and the in-process scheduler,
 * with the policy given as YAML: what proxy tests put in front of their real upstreams.
 */
export async function startTestGate(
  policyYaml: string,
  options: {
    oidc?: OidcVerifier;
    notifications?: NotificationsConfig;
    apiKeys?: ApiKeysConfig;
    storeWriter?: "thread" | "inline";
  } = {},
): Promise<TestGate> {
  await initSqlClassifier();
  const dir = makeTempDir("gate");
  const log = createLogger("silent", "test-gw");
  const store = await SqliteEventStore.open({
    path: join(dir.path, "sluice.db"),
    pollMs: 50,
    writer: options.storeWriter,
  });
  const scheduler = new InProcessScheduler();
  const key = await loadOrCreateSigningKey(join(dir.path, "keys", "ledger.jwk"));
  let policy: PolicySnapshot = policyFrom(policyYaml);
  const services = buildGateServices({
    store,
    scheduler,
    key,
    policy: () => policy,
    gatewayInstance: "test-gw",
    oidc: options.oidc,
    notifications: options.notifications,
    apiKeys: options.apiKeys,
    log,
  });
  await scheduler.start();
  return {
    ...services,
    store,
    scheduler,
    dataDir: dir.path,
    log,
    setPolicy(yaml) {
      policy = policyFrom(yaml, policy.version + 1);
    },
    context: () => ({
      gate: services.gate,
      policy: () => policy,
      dataDir: dir.path,
      log,
      roles: services.roles,
    }),
    async credential(request) {
      const identity = { subject: request.subject ?? "agent-1", groups: request.groups ?? ["agents"] };
      const taskId = await services.credentials.declareTask({
        intent: `test task on ${request.target}`,
        agent: { ...identity, kind: "agent" },
      });
      const issued = await services.credentials.issue({
        identity,
        target: request.target,
        access: request.access ?? "read-only",
        taskId,
        ttlMs: request.ttlMs ?? 600_000,
      });
      return { token: issued.token, credentialId: issued.credentialId, taskId };
    },
    async close() {
      await scheduler.stop();
      await store.close().catch(() => {});
      dir.remove();
    },
  };
}
