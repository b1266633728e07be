import { BodyReader } from "./body.ts";
import { codeTable, F } from "./codes.ts";
import { PgProtocolError, protocolViolation } from "./errors.ts";
import { DEFAULT_MAX_FRAME_BYTES, FrameSplitter } from "./frames.ts";
import { decodeStartupFrame, decodeTypedFrame, type FrontendMessage } from "./frontend-messages.ts";

export { F } from "./codes.ts";
export type { FrontendMessage } from "./frontend-messages.ts";

const FRONTEND_CODES = codeTable(F);

/**
 * Decodes the client → gateway byte stream. Starts in startup mode (untyped frames:
 * StartupMessage, SSLRequest, GSSENCRequest, CancelRequest); after a StartupMessage it reads
 * typed frames. After SSLRequest/GSSENCRequest it stays in startup mode.
 *
 * Any malformed input throws PgProtocolError; the reader then stays failed (every later push
 * throws the same error) and the connection is to be closed. Messages decoded earlier in the
 * failing chunk are dropped with it. Returned `raw` buffers may be views of pushed chunks:
 * callers must not reuse a chunk's memory after pushing it.
 */
export class FrontendReader {
  private readonly frames: FrameSplitter;
  private readonly body = new BodyReader(true);
  private startup = true;
  private failure: PgProtocolError | undefined;

  constructor(options: { maxFrameBytes?: number } = {}) {
    this.frames = new FrameSplitter(
      options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      FRONTEND_CODES,
      "frontend",
    );
  }

  /** The frame limit in force; the proxy may lower it, e.g. until the client is authenticated. */
  get maxFrameBytes(): number {
    return this.frames.maxFrameBytes;
  }

  set maxFrameBytes(limit: number) {
    this.frames.maxFrameBytes = limit;
  }

  /** True until a StartupMessage has been read. */
  get inStartup(): boolean {
    return this.startup;
  }

  /** Bytes buffered but not yet a complete frame. */
  get pending(): number {
    return this.frames.pending;
  }

  /** Feeds bytes; returns every complete message. Throws PgProtocolError on anything malformed. */
  push(chunk: Buffer): FrontendMessage[] {
    if (this.failure) throw this.failure;
    const out: FrontendMessage[] = [];
    this.frames.feed(chunk);
    try {
      for (;;) {
        const raw = this.frames.next(!this.startup);
        if (raw === undefined) break;
        if (!this.startup) {
          out.push(decodeTypedFrame(raw, this.body));
          continue;
        }
        const message = decodeStartupFrame(raw, this.body);
        out.push(message);
        if (message.type === "startup") this.startup = false;
        else if (message.type === "sslRequest" || message.type === "gssEncRequest") {
          // Bytes pipelined behind an encryption request would bypass the TLS/GSS layer the
          // client asked for (the CVE-2021-23214 class of injection), so they are refused.
          if (this.frames.hasUnread) {
            const what = message.type === "sslRequest" ? "SSL" : "GSSAPI encryption";
            throw protocolViolation(`received unencrypted data after ${what} request`);
          }
        }
      }
    } catch (error) {
      if (error instanceof PgProtocolError) this.failure = error;
      throw error;
    }
    return out;
  }
}

const sasl = new BodyReader(true);

/** SASLInitialResponse body: mechanism name, then an int32-length response (-1: none → empty). */
export function decodeSaslInitialResponse(data: Buffer): { mechanism: string; response: Buffer } {
  sasl.reset(data, 0, "SASLInitialResponse");
  const mechanism = sasl.cstring();
  const length = sasl.int32();
  if (length < -1) throw sasl.fail(`invalid response length ${length}`);
  const response = length === -1 ? Buffer.alloc(0) : sasl.bytes(length);
  sasl.end();
  return { mechanism, response };
}

/** PasswordMessage body: one NUL-terminated string. */
export function passwordText(data: Buffer): string {
  sasl.reset(data, 0, "PasswordMessage");
  const text = sasl.cstring();
  sasl.end();
  return text;
}
