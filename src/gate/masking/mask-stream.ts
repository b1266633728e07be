import { Transform, type TransformCallback } from "node:stream";
import { ChunkMasker } from "./chunk-masker.ts";
import { type ContentRule, DEFAULT_MAX_SECRET, type MaskFinding } from "./types.ts";

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
 * whole text; text before a possible secret is emitted at once, the rest held back until it is
 * decided (see ChunkMasker).
 */
export class MaskingStream extends Transform {
  readonly #masker: ChunkMasker;
  readonly #out: Buffer[] = [];

  constructor(rules: readonly ContentRule[], options: MaskingStreamOptions = {}) {
    super();
    this.#masker = new ChunkMasker(rules, options.maxCarry ?? DEFAULT_MAX_SECRET);
  }

  /** What was masked so far, per detector and rule. */
  findings(): MaskFinding[] {
    return this.#masker.findings();
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback): void {
    this.#masker.write(typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk, this.#out);
    this.#emit();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.#masker.end(this.#out);
    this.#emit();
    callback();
  }

  #emit(): void {
    const out = this.#out;
    if (out.length === 0) return;
    this.push(out.length === 1 ? out[0] : Buffer.concat(out));
    out.length = 0;
  }
}
