import { createHash } from "node:crypto";
import type { EventData, IdentityRef } from "../../events/index.ts";
import { canonical } from "../../eventstore/chain.ts";

/**
 * Publishing a policy version, as a decider over the `policy` stream: the whole document,
 * its hash, its author and a summary of what changed. An identical document publishes nothing.
 */

export interface PolicyState {
  version: number;
  hash: string | null;
  source: Record<string, unknown> | null;
}

export const initialPolicyState: PolicyState = { version: 0, hash: null, source: null };

export function evolvePolicy(_state: PolicyState, event: EventData<"PolicyVersionPublished">): PolicyState {
  return { version: event.version, hash: event.hash, source: event.document };
}

export function policyHash(source: Record<string, unknown>): string {
  return createHash("sha256").update(canonical(source)).digest("hex");
}

export function publishPolicy(
  state: PolicyState,
  command: { source: Record<string, unknown>; author: IdentityRef },
): EventData<"PolicyVersionPublished"> | null {
  const hash = policyHash(command.source);
  if (hash === state.hash) return null;
  return {
    version: state.version + 1,
    hash,
    author: command.author,
    document: command.source,
    diff: diffSummary(state.source ?? {}, command.source),
  };
}

const SECTIONS = ["targets", "access", "rules", "masking"] as const;

/** One line per section that changed: `rules: +approve-writes -old ~no-drop`. */
export function diffSummary(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const lines: string[] = [];
  for (const section of SECTIONS) {
    const old = byName(before[section]);
    const now = byName(after[section]);
    const changes: string[] = [];
    for (const [name, item] of now) {
      if (!old.has(name)) changes.push(`+${name}`);
      else if (canonical(old.get(name)) !== canonical(item)) changes.push(`~${name}`);
    }
    for (const name of old.keys()) if (!now.has(name)) changes.push(`-${name}`);
    if (changes.length > 0) lines.push(`${section}: ${changes.join(" ")}`);
  }
  if (canonical(before.maskingSalt ?? null) !== canonical(after.maskingSalt ?? null))
    lines.push("maskingSalt: changed");
  return lines;
}

function byName(items: unknown): Map<string, unknown> {
  const list = Array.isArray(items) ? items : [];
  return new Map(list.map((item, i) => [String((item as { name?: unknown })?.name ?? `#${i}`), item]));
}
