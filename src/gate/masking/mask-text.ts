import { compile, findingsOf } from "./plan.ts";
import { Subject } from "./prefilter.ts";
import { compareSpans, type RuleSpan, render, sweep } from "./spans.ts";
import { type ContentRule, DEFAULT_MAX_SECRET, type MaskFinding, type Span, type TextForm } from "./types.ts";

export interface MaskTextOptions {
  /** Bound on the longest secret (PEM block, JWT, bearer token), in UTF-8 bytes; default 16 KiB. */
  maxSecretLength?: number;
}

/** Masks every match of `rules` in one value; text without matches is returned as it is. */
export function maskText(
  text: string,
  rules: readonly ContentRule[],
  options: MaskTextOptions = {},
): { text: string; findings: MaskFinding[] } {
  const plan = compile(rules, options.maxSecretLength ?? DEFAULT_MAX_SECRET);
  // Detectors count bytes (see TextForm): other characters are scanned as their UTF-8 bytes.
  // A string is ASCII when its UTF-8 is as long (a native count, faster than a regex test).
  const form: TextForm = Buffer.byteLength(text, "utf8") === text.length ? "string" : "bytes";
  const scanned = form === "bytes" ? Buffer.from(text, "utf8").toString("latin1") : text;
  const spans: RuleSpan[] = [];
  const found: Span[] = [];
  const subject = new Subject(scanned);
  for (const { scanner, rule } of plan.scanners) {
    const first = found.length; // appended to, not emptied: resetting an array's length is slow in V8
    scanner.scan(subject, 0, found);
    for (let i = first; i < found.length; i++) {
      const s = found[i] as Span;
      spans.push({ at: s.at, start: s.start, end: s.end, resume: s.resume, rule, origin: s.start });
    }
  }
  if (spans.length === 0) return { text, findings: [] };
  spans.sort(compareSpans);
  const { regions } = sweep(spans, plan.limit, Number.POSITIVE_INFINITY);
  const counts = plan.rules.map(() => 0);
  const masked = render(scanned, 0, 0, scanned.length, regions, plan, form, counts);
  return {
    text: form === "bytes" ? Buffer.from(masked, "latin1").toString("utf8") : masked,
    findings: findingsOf(plan, counts),
  };
}
