import type { Decision as DecisionKind } from "../../events/index.ts";
import { type ClassifiedCommand, requiredLevel } from "./command.ts";
import { type AccessLevel, accessLevels, type PolicyDocument, type Rule } from "./document.ts";
import { globMatch, type Identity, ruleMatches, whoMatches } from "./match.ts";
import { withinWindow } from "./window.ts";

/**
 * The decision function: pure, fed everything it needs, no I/O. Order:
 *  1. no access grant for this identity and target → deny;
 *  2. matching rules, precedence deny > require_approval > allow (first in document order wins);
 *  3. otherwise the grant allows what its level covers; anything else is denied (default deny).
 */

export interface PolicySnapshot {
  version: number;
  document: PolicyDocument;
}

export interface DecisionInput {
  identity: Identity;
  target: string;
  command: ClassifiedCommand;
  policy: PolicySnapshot;
  /** The session's credential may narrow the grant (a sub-task credential for read-only work). */
  session?: { access?: AccessLevel };
  now: Date;
}

export interface Decision {
  decision: DecisionKind;
  /** The rule or grant that decided; null for the default deny. */
  rule: string | null;
  reason: string;
  policyVersion: number;
  /** Masking profile to apply to what the command returns. */
  masking?: string;
  approval?: {
    groups: string[];
    quorum: number;
    timeoutMs: number;
    reuseWithinMs?: number;
    /** Inside the rule's auto-approval window: policy approves by itself. */
    autoApprove?: boolean;
  };
}

export function decide(input: DecisionInput): Decision {
  const { identity, target, command, policy } = input;
  const version = policy.version;
  const grants = policy.document.access.filter(
    (g) => whoMatches(g.who, identity) && globMatch(g.targets, target),
  );
  if (grants.length === 0) {
    return deny(null, `${identity.subject} has no access grant for target ${target}`, version);
  }

  const matching = policy.document.rules.filter((rule) => ruleMatches(rule, identity, target, command));
  const first = <A extends Rule["action"]>(action: A) =>
    matching.find((r): r is Extract<Rule, { action: A }> => r.action === action);

  const denyRule = first("deny");
  if (denyRule) return deny(denyRule.name, denyRule.reason ?? `denied by rule ${denyRule.name}`, version);

  // A sub-task credential caps everything, rules included: it never carries more than its scope.
  const needed = requiredLevel(command);
  const scope = input.session?.access;
  if (scope && needed && rank(needed) > rank(scope)) {
    return deny(
      "credential-scope",
      `needs ${needed} access; this session's credential is scoped to ${scope}`,
      version,
    );
  }
  const level = strongest(grants.map((g) => g.level));
  const grant = grants.find((g) => g.level === level) ?? grants[0];
  const masking = (rule?: { masking?: string }) =>
    rule?.masking ?? grant?.masking ?? policy.document.targets.find((t) => t.name === target)?.masking;

  const approvalRule = first("require_approval");
  if (approvalRule) {
    const { groups, quorum, timeout, reuseWithin, autoApprove } = approvalRule.approval;
    return {
      decision: "require_approval",
      rule: approvalRule.name,
      reason: approvalRule.reason ?? `rule ${approvalRule.name} requires approval by ${groups.join(", ")}`,
      policyVersion: version,
      masking: masking(),
      approval: {
        groups,
        quorum,
        timeoutMs: timeout,
        ...(reuseWithin ? { reuseWithinMs: reuseWithin } : {}),
        ...(autoApprove && withinWindow(input.now, autoApprove) ? { autoApprove: true } : {}),
      },
    };
  }

  const allowRule = first("allow");
  if (allowRule) {
    return allow(
      allowRule.name,
      allowRule.reason ?? `allowed by rule ${allowRule.name}`,
      version,
      masking(allowRule),
    );
  }

  if (needed === null) {
    return deny(
      null,
      "the command could not be classified (e.g. unparseable SQL) and no rule allows it",
      version,
    );
  }
  if (rank(level) >= rank(needed)) {
    return allow(
      `access:${grant?.name}`,
      `within ${level} access granted by ${grant?.name}`,
      version,
      masking(),
    );
  }
  return deny(
    `access:${grant?.name}`,
    `needs ${needed} access; ${identity.subject} has ${level} on ${target}`,
    version,
  );
}

function deny(rule: string | null, reason: string, policyVersion: number): Decision {
  return { decision: "deny", rule, reason, policyVersion };
}

function allow(rule: string, reason: string, policyVersion: number, masking?: string): Decision {
  return { decision: "allow", rule, reason, policyVersion, ...(masking ? { masking } : {}) };
}

const rank = (level: AccessLevel) => accessLevels.indexOf(level);
const strongest = (levels: AccessLevel[]) => levels.reduce((a, b) => (rank(b) > rank(a) ? b : a));
