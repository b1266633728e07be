import { resolveSecret } from "../config/secret-ref.ts";
import type { PolicySnapshot } from "../domain/policy/decide.ts";
import type { EventStore } from "../eventstore/port.ts";
import type { OidcVerifier } from "../identity/oidc.ts";
import type { SigningKey } from "../identity/signing-key.ts";
import { PostgresRoleManager } from "../identity/upstream/postgres-roles.ts";
import type { Scheduler } from "../jobs/scheduler.ts";
import { ApprovalService } from "./approvals.ts";
import { CredentialService } from "./credentials.ts";
import { Gate } from "./gate.ts";

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
  const credentials = new CredentialService({
    store,
    key: options.key,
    policy: options.policy,
    scheduler,
    gatewayInstance,
    roles,
    now,
  });
  const approvals = new ApprovalService({ store, scheduler, gatewayInstance, now });
  const oidc = options.oidc;
  const gate = new Gate({
    store,
    policy: options.policy,
    credentials,
    approvals,
    gatewayInstance,
    now,
    ...(oidc ? { verifyOidc: (token: string) => oidc.verify(token) } : {}),
  });
  return { gate, credentials, approvals, roles };
}
