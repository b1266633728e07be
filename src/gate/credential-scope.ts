import { type ClassifiedCommand, requiredLevel } from "../domain/policy/command.ts";
import type { Decision } from "../domain/policy/decide.ts";
import { type AccessLevel, accessLevels } from "../domain/policy/document.ts";

/**
 * A sub-task credential caps everything a session does, rules included. The decision function
 * caps commands whose level is known; this covers SSH requests whose programs no classifier can
 * see (a shell, sftp, an exec it could not read, forwarding), which only a rule can allow: under
 * a credential such a rule still cannot grant more than the credential's level.
 */
export function capToCredential(
  decision: Decision,
  command: ClassifiedCommand,
  scope: AccessLevel | undefined,
): Decision {
  if (!scope || decision.decision === "deny") return decision;
  const floor = leastLevel(command);
  if (!floor || rank(floor) <= rank(scope)) return decision;
  return {
    decision: "deny",
    rule: "credential-scope",
    reason: `needs ${floor} access; this session's credential is scoped to ${scope}`,
    policyVersion: decision.policyVersion,
  };
}

/** The least level the command could need, when requiredLevel cannot tell (null otherwise). */
function leastLevel(command: ClassifiedCommand): AccessLevel | null {
  if (command.protocol !== "ssh" || requiredLevel(command) !== null) return null;
  // Whatever runs in a shell or an exec may write, as any exec needs read-write; sftp writes files.
  // Forwarding reaches past the target (other hosts, the agent's keys, its display): admin, as requiredLevel says.
  const { request } = command.ssh;
  return request === "exec" || request === "shell" || request === "sftp" ? "read-write" : "admin";
}

const rank = (level: AccessLevel) => accessLevels.indexOf(level);
