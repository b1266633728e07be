import { B, codeTable } from "./codes.ts";
import { PgProtocolError, protocolViolation } from "./errors.ts";
import { DEFAULT_MAX_FRAME_BYTES, FrameSplitter } from "./frames.ts";

export {
  type AuthenticationRequest,
  decodeAuthentication,
  decodeBackendKeyData,
  decodeCommandComplete,
  decodeCopyResponse,
  decodeFields,
  decodeNotification,
  decodeParameterStatus,
  decodeReadyForQuery,
  decodeRowDescription,
  type FieldDescription,
} from "./backend-messages.ts";
export { B } from "./codes.ts";

/** One server → gateway frame: `code` is the type byte, `raw` the whole frame incl. its 5-byte header. */
export interface BackendFrame {
  code: number;
  raw: Buffer;
}

const BACKEND_CODES = codeTable(B);

/**
 * Cuts the upstream byte stream into frames without decoding them (the result-row hot path:
 * frames that need no change are forwarded as they are). Frames wholly inside a chunk are
 * subarrays of it; split frames are assembled. After a PgProtocolError (unknown type byte, bad
 * length, frame past the limit) the framer stays failed and every later push throws again.
 */
export class BackendFramer {
  private readonly frames: FrameSplitter;
  private failure: PgProtocolError | undefined;

  constructor(options: { maxFrameBytes?: number } = {}) {
    this.frames = new FrameSplitter(
      options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      BACKEND_CODES,
      "backend",
    );
  }

  /** Bytes buffered but not yet a complete frame. */
  get pending(): number {
    return this.frames.pending;
  }

  push(chunk: Buffer): BackendFrame[] {
    if (this.failure) throw this.failure;
    const out: BackendFrame[] = [];
    const frames = this.frames;
    frames.feed(chunk);
    try {
      let raw = frames.next(true);
      while (raw !== undefined) {
        out.push({ code: raw[0] as number, raw });
        raw = frames.next(true);
      }
    } catch (error) {
      if (error instanceof PgProtocolError) this.failure = error;
      throw error;
    }
    return out;
  }
}

/** DataRow values as subarrays of `raw` (null for SQL NULL). Hand-rolled: it runs once per row. */
export function decodeDataRow(raw: Buffer): (Buffer | null)[] {
  const end = raw.length;
  if (raw[0] !== B.DataRow || end < 7 || raw.readInt32BE(1) !== end - 1) {
    throw protocolViolation("malformed DataRow message: bad header");
  }
  const count = raw.readUInt16BE(5);
  if (count * 4 > end - 7) throw protocolViolation(`malformed DataRow message: ${count} columns do not fit`);
  const values = new Array<Buffer | null>(count);
  let pos = 7;
  for (let i = 0; i < count; i++) {
    if (pos + 4 > end) throw protocolViolation("malformed DataRow message: unexpected end of message");
    const length = raw.readInt32BE(pos);
    pos += 4;
    if (length === -1) {
      values[i] = null;
      continue;
    }
    if (length < 0 || length > end - pos) {
      throw protocolViolation(`malformed DataRow message: column ${i + 1} has invalid length ${length}`);
    }
    values[i] = raw.subarray(pos, pos + length);
    pos += length;
  }
  if (pos !== end)
    throw protocolViolation(`malformed DataRow message: ${end - pos} unexpected trailing bytes`);
  return values;
}

/** Builds a DataRow frame; strings are written as UTF-8. */
export function encodeDataRow(values: (Buffer | string | null)[]): Buffer {
  let size = 7;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    size += 4;
    if (typeof v === "string") size += Buffer.byteLength(v);
    else if (v) size += v.length;
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = B.DataRow;
  out.writeInt32BE(size - 1, 1);
  out.writeUInt16BE(values.length, 5);
  let pos = 7;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      out.writeInt32BE(-1, pos);
      pos += 4;
    } else if (typeof v === "string") {
      const written = out.write(v, pos + 4, "utf8");
      out.writeInt32BE(written, pos);
      pos += 4 + written;
    } else {
      out.writeInt32BE(v.length, pos);
      v.copy(out, pos + 4);
      pos += 4 + v.length;
    }
  }
  return out;
}
