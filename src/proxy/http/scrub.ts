import { Transform, type TransformCallback } from "node:stream";

const MARKER = Buffer.from("«redacted:upstream_credential»", "utf8");

/**
 * Replaces exact byte strings (the gateway's upstream credential) in a stream, wherever chunk
 * boundaries fall: an upstream that echoes request headers must not hand the agent the token.
 * Holds back only a tail that could begin a literal, at most its length minus one byte.
 */
export class LiteralScrubber extends Transform {
  readonly #literals: Buffer[];
  #carry: Buffer = Buffer.alloc(0);
  count = 0;

  constructor(literals: Buffer[]) {
    super();
    this.#literals = literals.filter((l) => l.length > 0);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const data = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk;
    let from = 0;
    for (const hit of this.#hits(data)) {
      if (hit.start < from) continue; // overlaps one already replaced
      if (hit.start > from) this.push(data.subarray(from, hit.start));
      this.push(MARKER);
      this.count++;
      from = hit.end;
    }
    // Only a tail that begins a literal waits for the next chunk (a watch event must not).
    const cut = Math.max(from, this.#pendingFrom(data));
    if (cut > from) this.push(data.subarray(from, cut));
    this.#carry = Buffer.from(data.subarray(cut));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.#carry.length > 0) this.push(this.#carry);
    callback();
  }

  /** Where the longest tail of `data` that is the start of a literal begins (data.length if none). */
  #pendingFrom(data: Buffer): number {
    let cut = data.length;
    for (const literal of this.#literals) {
      const floor = Math.max(0, data.length - literal.length + 1);
      // Candidates are where the literal's first byte occurs in the tail, earliest wins.
      for (
        let p = data.indexOf(literal[0] as number, floor);
        p !== -1 && p < cut;
        p = data.indexOf(literal[0] as number, p + 1)
      ) {
        if (data.compare(literal, 0, data.length - p, p) === 0) {
          cut = p;
          break;
        }
      }
    }
    return cut;
  }

  #hits(data: Buffer): { start: number; end: number }[] {
    const hits: { start: number; end: number }[] = [];
    for (const literal of this.#literals) {
      for (let at = data.indexOf(literal); at !== -1; at = data.indexOf(literal, at + literal.length))
        hits.push({ start: at, end: at + literal.length });
    }
    return hits.length > 1 ? hits.sort((a, b) => a.start - b.start) : hits;
  }
}
