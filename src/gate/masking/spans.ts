import type { Plan } from "./plan.ts";
import { maskRegion } from "./strategies.ts";
import type { ContentRule, Span, TextForm } from "./types.ts";

/**
 * Overlapping matches become one masked region, so no character of any match survives. The
 * region takes the strategy of its first match (earliest start, then longest, then rule
 * order) and counts once, for that rule. A region never grows past `limit` bytes: a match
 * reaching further is masked as a region of its own from where the previous one ended, which
 * keeps a stream's carry bounded even for a chain of overlapping matches.
 */

export interface RuleSpan extends Span {
  rule: number;
  /** The start the span was found with; `start` moves forward when a stream clips it. */
  origin: number;
}

export interface Region {
  start: number;
  end: number;
  rule: number;
}

export function compareSpans(a: RuleSpan, b: RuleSpan): number {
  return a.origin - b.origin || b.end - a.end || a.rule - b.rule;
}

export interface Sweep {
  regions: Region[];
  /** Text before this position is final: every region in it is listed. */
  until: number;
  /** Index of the first span not consumed by `regions`. */
  keepFrom: number;
}

/** Regions from `spans` (sorted by compareSpans) that start before `horizon` and end by it. */
export function sweep(spans: readonly RuleSpan[], limit: number, horizon: number): Sweep {
  const regions: Region[] = [];
  let open: Region | undefined;
  let openFirst = 0;
  let i = 0;
  for (; i < spans.length; i++) {
    const span = spans[i] as RuleSpan;
    if (span.origin >= horizon) break;
    if (open !== undefined && span.start < open.end) {
      if (span.end <= open.end) continue;
      if (span.end - open.start <= limit) {
        open.end = span.end;
        continue;
      }
      regions.push(open);
      open = { start: open.end, end: span.end, rule: span.rule };
      openFirst = i;
      continue;
    }
    if (open !== undefined) regions.push(open);
    open = { start: span.start, end: span.end, rule: span.rule };
    openFirst = i;
  }
  if (open === undefined) return { regions, until: horizon, keepFrom: i };
  if (open.end <= horizon) {
    regions.push(open);
    return { regions, until: horizon, keepFrom: i };
  }
  return { regions, until: open.start, keepFrom: openFirst };
}

/** `text[from, to)` with each region (all inside it, in order) replaced; counts regions per rule. */
export function render(
  text: string,
  offset: number,
  from: number,
  to: number,
  regions: readonly Region[],
  plan: Plan,
  form: TextForm,
  counts: number[],
): string {
  let out = "";
  let at = from;
  for (const region of regions) {
    const rule = plan.rules[region.rule] as ContentRule;
    out += text.slice(at - offset, region.start - offset);
    out += maskRegion(
      text.slice(region.start - offset, region.end - offset),
      rule.strategy,
      rule.detector,
      form,
    );
    counts[region.rule] = (counts[region.rule] ?? 0) + 1;
    at = region.end;
  }
  return out + text.slice(at - offset, to - offset);
}
