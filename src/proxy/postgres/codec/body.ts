import { isUtf8 } from "node:buffer";
import { CHARACTER_NOT_IN_REPERTOIRE, PgProtocolError, protocolViolation } from "./errors.ts";

/**
 * A bounds-checked cursor over one message body. Every read past the end, missing string
 * terminator or invalid UTF-8 becomes a PgProtocolError naming the message, never a RangeError.
 * Reused across messages (`reset`) so decoding allocates nothing of its own.
 */
export class BodyReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private message = "";
  private readonly strictUtf8: boolean;

  /**
   * `strictUtf8`: refuse invalid UTF-8 (client input, which Sluice classifies); when false,
   * invalid sequences decode to U+FFFD (server output, only ever displayed or recorded).
   */
  constructor(strictUtf8: boolean) {
    this.strictUtf8 = strictUtf8;
  }

  /** Reads `buf` (exactly one frame) from `start`; `message` names it in errors. */
  reset(buf: Buffer, start: number, message: string): this {
    this.buf = buf;
    this.pos = start;
    this.message = message;
    return this;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  fail(problem: string): PgProtocolError {
    return protocolViolation(`malformed ${this.message} message: ${problem}`);
  }

  private need(bytes: number): void {
    if (this.buf.length - this.pos < bytes) throw this.fail("unexpected end of message");
  }

  byte(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  uint16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** `n` bytes as a subarray of the frame (no copy). */
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** The rest of the body as a subarray. */
  rest(): Buffer {
    const v = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return v;
  }

  /**
   * A NUL-terminated UTF-8 string. Invalid UTF-8 is refused rather than replaced with U+FFFD,
   * so the text Sluice classifies is byte for byte the text the server will run.
   */
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw this.fail("missing string terminator");
    const start = this.pos;
    this.pos = end + 1;
    if (end === start) return "";
    const bytes = this.buf.subarray(start, end);
    if (this.strictUtf8 && !isAscii(bytes) && !isUtf8(bytes)) {
      throw new PgProtocolError(
        CHARACTER_NOT_IN_REPERTOIRE,
        `invalid byte sequence for encoding "UTF8" in ${this.message} message`,
      );
    }
    return bytes.toString("utf8");
  }

  /** Asserts the body is fully consumed (trailing bytes are a protocol violation). */
  end(): void {
    if (this.pos !== this.buf.length)
      throw this.fail(`${this.buf.length - this.pos} unexpected trailing bytes`);
  }
}

/** Short strings (names, tags) are nearly always ASCII; checking that is cheaper than isUtf8's call. */
function isAscii(bytes: Buffer): boolean {
  if (bytes.length > 64) return false;
  for (let i = 0; i < bytes.length; i++) if ((bytes[i] as number) > 0x7f) return false;
  return true;
}
