/**
 * Builds one message at a time into a reused scratch buffer; `frame`/`untyped` return an
 * exact-size copy, so results are never shared. For messages Sluice writes itself (errors,
 * notices, authentication, synthesized rows), not for relayed traffic.
 */
export class MessageWriter {
  private buf = Buffer.allocUnsafe(256);
  private pos = 5;

  private ensure(bytes: number): void {
    if (this.buf.length - this.pos >= bytes) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  int8(value: number): this {
    this.ensure(1);
    this.buf[this.pos++] = value & 0xff;
    return this;
  }

  int16(value: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(value & 0xffff, this.pos);
    this.pos += 2;
    return this;
  }

  int32(value: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(value | 0, this.pos);
    this.pos += 4;
    return this;
  }

  /** A NUL-terminated UTF-8 string. Embedded NULs would end it early and desynchronize the peer, so they are dropped. */
  cstring(value: string): this {
    const text = value.includes("\0") ? value.replaceAll("\0", "") : value;
    const length = Buffer.byteLength(text);
    this.ensure(length + 1);
    this.buf.write(text, this.pos, "utf8");
    this.pos += length;
    this.buf[this.pos++] = 0;
    return this;
  }

  bytes(value: Buffer | string): this {
    const data = typeof value === "string" ? Buffer.from(value, "utf8") : value;
    this.ensure(data.length);
    data.copy(this.buf, this.pos);
    this.pos += data.length;
    return this;
  }

  /** Finishes a typed frame (type byte + int32 length + body). */
  frame(code: number): Buffer {
    this.buf[0] = code;
    this.buf.writeInt32BE(this.pos - 1, 1);
    return this.take(0);
  }

  /** Finishes an untyped startup-phase frame (int32 length + body). */
  untyped(): Buffer {
    this.buf.writeInt32BE(this.pos - 1, 1);
    return this.take(1);
  }

  private take(from: number): Buffer {
    const out = Buffer.allocUnsafe(this.pos - from);
    this.buf.copy(out, 0, from, this.pos);
    this.pos = 5;
    if (this.buf.length > 64 * 1024) this.buf = Buffer.allocUnsafe(256);
    return out;
  }
}

/** A header-only frame: type byte + length 4. */
export function emptyFrame(code: number): Buffer {
  const out = Buffer.allocUnsafe(5);
  out[0] = code;
  out.writeInt32BE(4, 1);
  return out;
}
