import { MIN_SECRET_LIMIT, scannersFor } from "./detectors.ts";
import { checkStrategy } from "./strategies.ts";
import type { ContentRule, MaskFinding, Scanner } from "./types.ts";

/**
 * Rules compiled for scanning. When two rules name the same detector the first one applies
 * (both would mask exactly the same text).
 */
export interface Plan {
  rules: ContentRule[];
  scanners: { scanner: Scanner; rule: number }[];
  /** Bound on the longest secret and on a masked region, in bytes (see DEFAULT_MAX_SECRET). */
  limit: number;
}

// Policy snapshots reuse their rule arrays, so a compiled plan is kept per array (never mutate one).
const plans = new WeakMap<readonly ContentRule[], Map<number, Plan>>();

export function compile(rules: readonly ContentRule[], limit: number): Plan {
  let byLimit = plans.get(rules);
  const cached = byLimit?.get(limit);
  if (cached !== undefined) return cached;
  if (!Number.isInteger(limit) || limit < MIN_SECRET_LIMIT)
    throw new RangeError(`the longest secret bound must be an integer of at least ${MIN_SECRET_LIMIT}`);
  const unique: ContentRule[] = [];
  for (const rule of rules) {
    checkStrategy(rule.strategy);
    if (!unique.some((r) => r.detector === rule.detector)) unique.push(rule);
  }
  const plan: Plan = {
    rules: unique,
    scanners: unique.flatMap((rule, index) =>
      scannersFor(rule.detector, limit).map((scanner) => ({ scanner, rule: index })),
    ),
    limit,
  };
  if (byLimit === undefined) {
    byLimit = new Map();
    plans.set(rules, byLimit);
  }
  byLimit.set(limit, plan);
  return plan;
}

export function findingsOf(plan: Plan, counts: readonly number[]): MaskFinding[] {
  const findings: MaskFinding[] = [];
  plan.rules.forEach((rule, index) => {
    const count = counts[index] ?? 0;
    if (count > 0) findings.push({ detector: rule.detector, rule: rule.rule, count });
  });
  return findings;
}
