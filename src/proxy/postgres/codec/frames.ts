import { describeCode } from "./codes.ts";
import { frameTooLarge, protocolViolation } from "./errors.ts";

/** Default frame limit: 64 MiB, counted like the length field (which counts itself). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** PostgreSQL's own cap on untyped startup-phase packets (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_FRAME_BYTES = 10_000;

const EMPTY = Buffer.alloc(0);

/**
 * Cuts a byte stream into PostgreSQL frames. Typed frames are a type byte + int32 length;
 * untyped (startup-phase) frames are an int32 length only. A frame lying wholly inside the
 * current chunk is returned as a subarray of it (no copy); a frame split across chunks is
 * kept as a list of pieces and copied once when complete, so memory grows only with bytes
 * actually received, never with an (untrusted) declared length.
 *
 * Usage: `feed(chunk)`, then call `next(typed)` until it returns undefined.
 */
export class FrameSplitter {
  /** Largest accepted length field; settable (e.g. tighter before authentication). */
  maxFrameBytes: number;
  private readonly validCodes: Uint8Array;
  private readonly direction: string;
  private chunk: Buffer = EMPTY;
  private offset = 0;
  private pieces: Buffer[] = [];
  private held = 0;
  /** Total bytes of the frame being assembled, once its header is known; else -1. */
  private expected = -1;

  constructor(maxFrameBytes: number, validCodes: Uint8Array, direction: "frontend" | "backend") {
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 8) {
      throw new RangeError(`maxFrameBytes must be an integer of at least 8 (got ${maxFrameBytes})`);
    }
    this.maxFrameBytes = maxFrameBytes;
    this.validCodes = validCodes;
    this.direction = direction;
  }

  /** Bytes held for a frame not yet complete, plus unread bytes of the current chunk. */
  get pending(): number {
    return this.held + (this.chunk.length - this.offset);
  }

  /** True when the current chunk has unread bytes. */
  get hasUnread(): boolean {
    return this.offset < this.chunk.length;
  }

  feed(chunk: Buffer): void {
    this.chunk = chunk;
    this.offset = 0;
  }

  /** The next complete frame, or undefined once the rest of the chunk is held for later. */
  next(typed: boolean): Buffer | undefined {
    const chunk = this.chunk;
    const header = typed ? 5 : 4;
    if (this.held === 0) {
      const offset = this.offset;
      const avail = chunk.length - offset;
      if (avail >= header) {
        const total = this.frameTotal(chunk, offset, typed);
        if (avail >= total) {
          this.offset = offset + total;
          return chunk.subarray(offset, offset + total);
        }
        this.expected = total;
      }
      if (avail > 0) this.hold(chunk.subarray(offset));
      return undefined;
    }
    if (this.expected < 0) {
      // The header itself was split: gather its bytes (at most 4 held), then size the frame.
      const need = header - this.held;
      if (chunk.length - this.offset < need) {
        this.hold(chunk.subarray(this.offset));
        return undefined;
      }
      this.pieces.push(chunk.subarray(this.offset, this.offset + need));
      this.offset += need;
      const head = Buffer.concat(this.pieces, header);
      this.pieces = [head];
      this.held = header;
      this.expected = this.frameTotal(head, 0, typed);
    }
    const need = this.expected - this.held;
    const avail = chunk.length - this.offset;
    if (avail < need) {
      if (avail > 0) this.hold(chunk.subarray(this.offset));
      return undefined;
    }
    this.pieces.push(chunk.subarray(this.offset, this.offset + need));
    this.offset += need;
    const frame = Buffer.concat(this.pieces, this.expected);
    this.pieces = [];
    this.held = 0;
    this.expected = -1;
    return frame;
  }

  private hold(bytes: Buffer): void {
    this.pieces.push(bytes);
    this.held += bytes.length;
    this.offset = this.chunk.length;
  }

  /** Validates a header at `at` and returns the whole frame's size in bytes. */
  private frameTotal(buf: Buffer, at: number, typed: boolean): number {
    if (typed) {
      const code = buf[at] as number;
      if (this.validCodes[code] !== 1) {
        throw protocolViolation(`invalid ${this.direction} message type ${describeCode(code)}`);
      }
      const length = buf.readInt32BE(at + 1);
      if (length < 4) {
        throw protocolViolation(
          `invalid length ${length} in ${this.direction} message ${describeCode(code)}`,
        );
      }
      if (length > this.maxFrameBytes) throw frameTooLarge(length, this.maxFrameBytes);
      return length + 1;
    }
    const length = buf.readInt32BE(at);
    if (length < 8 || length > MAX_STARTUP_FRAME_BYTES) {
      throw protocolViolation(`invalid length of startup packet: ${length} bytes`);
    }
    if (length > this.maxFrameBytes) throw frameTooLarge(length, this.maxFrameBytes);
    return length;
  }
}
