import { resolveSecret } from "../config/secret-ref.ts";
import type { PolicySnapshot } from "../domain/policy/decide.ts";
import { type EventData, makeMetadata, newEvent, notificationStream } from "../events/index.ts";
import type { EventStore } from "../eventstore/port.ts";
import { type ApiKeyIdentity, verifyApiKey } from "../identity/api-keys.ts";
import type { ApiKeysConfig } from "../identity/api-keys-config.ts";
import type { OidcVerifier } from "../identity/oidc.ts";
import type { SigningKey } from "../identity/signing-key.ts";
import { PostgresRoleManager } from "../identity/upstream/postgres-roles.ts";
import type { Scheduler } from "../jobs/scheduler.ts";
import type { Logger } from "../log.ts";
import { ApprovalService } from "./approvals.ts";
import { CredentialService } from "./credentials.ts";
import { Gate } from "./gate.ts";
import type { GateMetrics } from "./metrics.ts";
import type { NotificationsConfig } from "./notify/config.ts";
import { WebhookNotifier } from "./notify/webhooks.ts";

export interface GateServices {
  gate: Gate;
  credentials: CredentialService;
  approvals: ApprovalService;
  /** Ephemeral-role manager of a PostgreSQL target that uses them, one per target (shared by issuance and proxy). */
  roles: (target: string) => PostgresRoleManager | undefined;
}

/**
 * The gate and the services behind it, wired once: the gateway, the CLI and tests build them
 * here so every path uses the same credential, approval and role handling.
 */
export function buildGateServices(options: {
  store: EventStore;
  scheduler: Scheduler;
  policy: () => PolicySnapshot | null;
  key: SigningKey;
  gatewayInstance: string;
  oidc?: OidcVerifier;
  /** Static API keys for agents (`identity.apiKeys`). */
  apiKeys?: ApiKeysConfig;
  /** Webhooks told about every held command; none by default. */
  notifications?: NotificationsConfig;
  log?: Logger;
  /** Prometheus counters the gate keeps (GET /metrics); none when absent. */
  metrics?: GateMetrics;
  now?: () => Date;
}): GateServices {
  const managers = new Map<string, PostgresRoleManager>();
  const roles = (name: string) => {
    const target = options.policy()?.document.targets.find((t) => t.name === name);
    if (!target?.ephemeralRole || !target.credential) return undefined;
    const url = resolveSecret(target.credential, `target ${name}`);
    const cached = managers.get(name);
    if (cached?.adminUrl === url) return cached;
    const manager = new PostgresRoleManager(url);
    managers.set(name, manager);
    return manager;
  };
  const { store, scheduler, gatewayInstance, now } = options;
  const notifier = webhookNotifier(options);
  const approvals = new ApprovalService({
    store,
    scheduler,
    gatewayInstance,
    now,
    log: options.log,
    ...(notifier ? { onRequested: notifier } : {}),
  });
  const credentials = new CredentialService({
    store,
    key: options.key,
    policy: options.policy,
    scheduler,
    gatewayInstance,
    roles,
    approvals,
    now,
  });
  const oidc = options.oidc;
  const gate = new Gate({
    store,
    policy: options.policy,
    credentials,
    approvals,
    gatewayInstance,
    now,
    metrics: options.metrics,
    ...(oidc ? { verifyOidc: (token: string) => oidc.verify(token) } : {}),
    ...(options.apiKeys ? { verifyApiKey: apiKeyVerifier(options.apiKeys) } : {}),
  });
  return { gate, credentials, approvals, roles };
}

/** Approval notices by webhook, each delivery's outcome recorded in `notification-<approvalId>`. */
function webhookNotifier(options: {
  store: EventStore;
  scheduler: Scheduler;
  gatewayInstance: string;
  notifications?: NotificationsConfig;
  log?: Logger;
}): ((request: EventData<"ApprovalRequested">) => Promise<void>) | undefined {
  const config = options.notifications;
  if (!config || config.webhooks.length === 0) return undefined;
  const notifier = new WebhookNotifier({
    scheduler: options.scheduler,
    log: options.log,
    targets: config.webhooks.map((hook) => ({
      name: hook.name,
      url: hook.url,
      secret: resolveSecret(hook.secret, `notifications.webhooks ${hook.name} secret`),
      format: hook.format,
    })),
    record: async (outcome) => {
      const metadata = makeMetadata({ gatewayInstance: options.gatewayInstance, actor: "sluice" });
      await options.store.append(notificationStream(outcome.approvalId), [
        newEvent("ApproverNotified", outcome, metadata),
      ]);
    },
  });
  return (request) =>
    notifier.notify({
      approvalId: request.approvalId,
      requester: request.requester.subject,
      target: request.target,
      command: request.command,
      rule: request.rule,
      approverGroups: request.approverGroups,
      quorum: request.quorum,
      expiresAt: request.expiresAt,
      ...(config.approveUrl
        ? { approveUrl: config.approveUrl.replaceAll("{approvalId}", request.approvalId) }
        : {}),
    });
}

/** Checks a presented key against the configured hashes; the pepper is read once, at start. */
function apiKeyVerifier(config: ApiKeysConfig): (key: string) => ApiKeyIdentity {
  const pepper = resolveSecret(config.pepper, "identity.apiKeys.pepper");
  return (key) => verifyApiKey(key, config.keys, pepper);
}
