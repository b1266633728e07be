import { compile, findingsOf, type Plan } from "./plan.ts";
import { Subject } from "./prefilter.ts";
import { compareSpans, type Region, type RuleSpan, sweep } from "./spans.ts";
import { maskRegionBytes } from "./strategies.ts";
import { CONTEXT, type ContentRule, type MaskFinding, type Span } from "./types.ts";

/** Bytes scanned at a time; see write(). */
const PIECE = 64 * 1024;

/**
 * The masking of a UTF-8 byte stream split into chunks anywhere, with the same result as
 * maskText on the whole text (MaskingStream is its Transform; the SSH port's mask workers use
 * it directly). Bytes are scanned as latin1 (one character per byte), so multi-byte characters
 * split across chunks, and bytes that are not UTF-8 at all, pass through untouched.
 *
 * After each chunk every detector tells from where its matches could still change
 * (`pendingFrom`): usually only the trailing word, an unfinished PEM block or an open URL. All
 * text before the earliest such point, and before any masked region that crosses it, is
 * emitted at once; the rest is carried into the next chunk with CONTEXT bytes before it.
 */
export class ChunkMasker {
  readonly #plan: Plan;
  /** Unemitted text plus up to CONTEXT characters before it; `#base` is the offset of its first. */
  #text = "";
  #base = 0;
  #emitted = 0;
  /** The unemitted bytes before the piece being scanned (the text's tail from `#emitted`). */
  #held: Buffer = Buffer.alloc(0);
  /** Per scanner: the offset its next scan starts at (everything before is decided). */
  readonly #resume: number[];
  /** Decided matches not yet emitted, in absolute offsets. */
  readonly #spans: RuleSpan[] = [];
  readonly #counts: number[];

  /** `maxCarry`: see MaskingStreamOptions. */
  constructor(rules: readonly ContentRule[], maxCarry: number) {
    this.#plan = compile(rules, maxCarry);
    this.#resume = this.#plan.scanners.map(() => 0);
    this.#counts = this.#plan.rules.map(() => 0);
  }

  /** What was masked so far, per detector and rule. */
  findings(): MaskFinding[] {
    return findingsOf(this.#plan, this.#counts);
  }

  /**
   * Takes the next bytes of the stream and appends to `out` what is now final, masked: slices
   * of the bytes given (not copied) and replacements.
   */
  write(bytes: Buffer, out: Buffer[]): void {
    // Large chunks go in pieces: the scanned text stays a small V8 string (much faster to scan
    // and collect than one in the large-object space).
    for (let at = 0; at < bytes.length; at += PIECE) {
      const piece = bytes.subarray(at, Math.min(at + PIECE, bytes.length));
      // The carried text and the piece joined as strings (V8 flattens them once, on the first
      // scan): no buffer of both is allocated.
      const added = piece.toString("latin1");
      this.#advance(this.#text.length === 0 ? added : this.#text + added, piece, false, out);
    }
  }

  /** The stream ended: appends the rest to `out`. */
  end(out: Buffer[]): void {
    this.#advance(this.#text, Buffer.alloc(0), true, out);
  }

  /**
   * Scans `text` (the carry and `piece`), appends the bytes that are now final and masked, and
   * keeps the rest as the carry.
   */
  #advance(text: string, piece: Buffer, ended: boolean, out: Buffer[]): void {
    const subject = new Subject(text);
    const base = this.#base;
    const end = base + text.length;
    const { scanners } = this.#plan;
    const spans = this.#spans;
    const found: Span[] = [];
    let horizon = end;
    for (let i = 0; i < scanners.length; i++) {
      const { scanner, rule } = scanners[i] as Plan["scanners"][number];
      const resume = this.#resume[i] as number;
      const decided = ended ? end : Math.max(base + scanner.pendingFrom(subject), resume);
      let next = decided;
      const first = found.length; // appended to, not emptied: resetting an array's length is slow in V8
      scanner.scan(subject, resume - base, found);
      for (let f = first; f < found.length; f++) {
        const s = found[f] as Span;
        if (base + s.at >= decided) break;
        const start = base + s.start;
        spans.push({
          at: base + s.at,
          start,
          end: base + s.end,
          resume: base + s.resume,
          rule,
          origin: start,
        });
        next = Math.max(decided, base + s.resume);
      }
      this.#resume[i] = next;
      if (decided < horizon) horizon = decided;
    }

    if (spans.length > 1) spans.sort(compareSpans);
    const { regions, until, keepFrom } = sweep(spans, this.#plan.limit, horizon);
    this.#render(text, piece, until, regions, out);
    // A kept span that began inside emitted text continues as a region of its own from `until`.
    let kept = 0;
    for (let i = keepFrom; i < spans.length; i++) {
      const span = spans[i] as RuleSpan;
      if (span.end <= until) continue;
      if (span.start < until) span.start = until;
      spans[kept++] = span;
    }
    spans.length = kept;

    // The bytes from `until` on are held (a copy: the piece belongs to the caller).
    const pieceAt = end - piece.length;
    const held = this.#held;
    if (until >= pieceAt) this.#held = Buffer.from(piece.subarray(until - pieceAt));
    else this.#held = Buffer.concat([held.subarray(until - this.#emitted), piece]);
    this.#emitted = until;
    const keep = Math.max(base, until - CONTEXT);
    this.#text = keep > base ? text.slice(keep - base) : text;
    this.#base = keep;
  }

  /** Appends the bytes from `#emitted` to `until`, regions replaced; they are the held bytes, then the piece's. */
  #render(text: string, piece: Buffer, until: number, regions: readonly Region[], out: Buffer[]): void {
    const base = this.#base;
    let at = this.#emitted;
    for (const region of regions) {
      this.#bytes(at, region.start, piece, base + text.length, out);
      const rule = this.#plan.rules[region.rule] as ContentRule;
      const value = text.slice(region.start - base, region.end - base);
      out.push(maskRegionBytes(value, rule.strategy, rule.detector));
      this.#counts[region.rule] = (this.#counts[region.rule] ?? 0) + 1;
      at = region.end;
    }
    this.#bytes(at, until, piece, base + text.length, out);
  }

  /** Appends the bytes `[from, to)` (absolute offsets, not before `#emitted`) as slices of the held bytes and the piece. */
  #bytes(from: number, to: number, piece: Buffer, end: number, out: Buffer[]): void {
    if (to <= from) return;
    const pieceAt = end - piece.length;
    if (from < pieceAt)
      out.push(this.#held.subarray(from - this.#emitted, Math.min(to, pieceAt) - this.#emitted));
    if (to > pieceAt) out.push(piece.subarray(Math.max(from, pieceAt) - pieceAt, to - pieceAt));
  }
}
