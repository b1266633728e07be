import type { PolicySnapshot } from "../domain/policy/decide.ts";
import type { Target } from "../domain/policy/document.ts";
import type { Gate } from "../gate/gate.ts";
import type { PostgresRoleManager } from "../identity/upstream/postgres-roles.ts";
import type { Logger } from "../log.ts";

/** What every proxy port gets from the gateway: the gate, the live policy, where to keep files. */
export interface ProxyContext {
  gate: Gate;
  /** The live policy snapshot (targets, rules, masking profiles); null before the first publish. */
  policy: () => PolicySnapshot | null;
  /** Generated host keys and certificates live under it. */
  dataDir: string;
  log: Logger;
  /** Ephemeral-role manager of a PostgreSQL target that uses them (`ephemeralRole` in policy). */
  roles: (target: string) => PostgresRoleManager | undefined;
}

/** A proxy port that is listening. */
export interface RunningProxy {
  readonly protocol: "postgres" | "ssh" | "http";
  readonly host: string;
  readonly port: number;
  /** Stops accepting, ends open sessions (recording SessionEnded), resolves when all are closed. */
  close(): Promise<void>;
}

/** The policy's target of that name, or undefined. */
export function findTarget(policy: PolicySnapshot | null, name: string): Target | undefined {
  return policy?.document.targets.find((t) => t.name === name);
}
