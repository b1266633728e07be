import { Transform, type TransformCallback } from "node:stream";
import { compile, findingsOf, type Plan } from "./plan.ts";
import { compareSpans, type RuleSpan, render, sweep } from "./spans.ts";
import { CONTEXT, type ContentRule, DEFAULT_MAX_SECRET, type MaskFinding, type Span } from "./types.ts";

export interface MaskingStreamOptions {
  /**
   * Bound on the longest secret a chunk boundary may split (PEM block, JWT, bearer token), in
   * bytes; default 16 KiB, at least 4 KiB. A PEM BEGIN with no END within it is masked from the
   * BEGIN for this many bytes. The stream holds back at most about twice this much.
   */
  maxCarry?: number;
}

/**
 * Masks a UTF-8 byte stream split into chunks anywhere, with the same result as maskText on the
 * whole text. Bytes are scanned as latin1 (one character per byte), so multi-byte characters
 * split across chunks, and bytes that are not UTF-8 at all, pass through untouched.
 *
 * After each chunk every detector tells from where its matches could still change
 * (`pendingFrom`): usually only the trailing word, an unfinished PEM block or an open URL. All
 * text before the earliest such point, and before any masked region that crosses it, is
 * emitted at once; the rest is carried into the next chunk with CONTEXT bytes before it.
 */
export class MaskingStream extends Transform {
  readonly #plan: Plan;
  /** Unemitted bytes plus up to CONTEXT bytes before them; `#base` is the offset of its first byte. */
  #buf = "";
  #base = 0;
  #emitted = 0;
  /** Per scanner: the offset its next scan starts at (everything before is decided). */
  readonly #resume: number[];
  /** Decided matches not yet emitted, in absolute offsets. */
  #spans: RuleSpan[] = [];
  readonly #counts: number[];

  constructor(rules: readonly ContentRule[], options: MaskingStreamOptions = {}) {
    super();
    this.#plan = compile(rules, options.maxCarry ?? DEFAULT_MAX_SECRET);
    this.#resume = this.#plan.scanners.map(() => 0);
    this.#counts = this.#plan.rules.map(() => 0);
  }

  /** What was masked so far, per detector and rule. */
  findings(): MaskFinding[] {
    return findingsOf(this.#plan, this.#counts);
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback): void {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
    if (bytes.length > 0) {
      this.#buf += bytes.toString("latin1");
      this.#emit(this.#advance(false));
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.#emit(this.#advance(true));
    callback();
  }

  #emit(text: string): void {
    if (text.length > 0) this.push(Buffer.from(text, "latin1"));
  }

  /** Scans what arrived, returns the text that is now final and masked, and trims the carry. */
  #advance(ended: boolean): string {
    const buf = this.#buf;
    const base = this.#base;
    const end = base + buf.length;
    let horizon = end;
    const found: Span[] = [];
    this.#plan.scanners.forEach(({ scanner, rule }, i) => {
      const resume = this.#resume[i] as number;
      const decided = ended ? end : Math.max(base + scanner.pendingFrom(buf), resume);
      let next = decided;
      found.length = 0;
      scanner.scan(buf, resume - base, found);
      for (const s of found) {
        if (base + s.at >= decided) break;
        this.#spans.push({
          at: base + s.at,
          start: base + s.start,
          end: base + s.end,
          resume: base + s.resume,
          rule,
          origin: base + s.start,
        });
        next = Math.max(decided, base + s.resume);
      }
      this.#resume[i] = next;
      horizon = Math.min(horizon, decided);
    });

    this.#spans.sort(compareSpans);
    const { regions, until, keepFrom } = sweep(this.#spans, this.#plan.limit, horizon);
    const out = render(buf, base, this.#emitted, until, regions, this.#plan, "bytes", this.#counts);
    // A kept span that began inside emitted text continues as a region of its own from `until`.
    this.#spans = this.#spans
      .slice(keepFrom)
      .filter((s) => s.end > until)
      .map((s) => (s.start < until ? { ...s, start: until } : s));
    this.#emitted = until;

    const keep = Math.max(base, until - CONTEXT);
    if (keep > base) {
      this.#buf = buf.slice(keep - base);
      this.#base = keep;
    }
    return out;
  }
}
