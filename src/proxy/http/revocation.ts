import type { IncomingMessage, ServerResponse } from "node:http";
import { Transform, type TransformCallback } from "node:stream";
import type { Timers } from "./timers.ts";

/**
 * What ends an exchange in flight when its credential is revoked or expires (the session's
 * credential watch, see sessions.ts): the reason carried by the lease's `cut` signal, and the
 * tail of a Kubernetes watch stream, which ends with one ERROR event kubectl prints.
 */

export class CredentialEnded extends Error {
  readonly code: "CREDENTIAL_REVOKED" | "CREDENTIAL_EXPIRED" | "CREDENTIAL_INVALID";

  constructor(
    readonly credentialId: string,
    status: "revoked" | "expired" | "none",
  ) {
    super(
      status === "revoked"
        ? `sluice: credential ${credentialId} was revoked`
        : status === "expired"
          ? `sluice: credential ${credentialId} expired`
          : `sluice: credential ${credentialId} is no longer valid`,
    );
    this.code =
      status === "revoked"
        ? "CREDENTIAL_REVOKED"
        : status === "expired"
          ? "CREDENTIAL_EXPIRED"
          : "CREDENTIAL_INVALID";
  }
}

/** The credential that ended, when this signal is a lease's `cut` that fired. */
export function endedBy(signal: AbortSignal): CredentialEnded | null {
  return signal.aborted && signal.reason instanceof CredentialEnded ? signal.reason : null;
}

/** The watch event the Kubernetes API itself sends when a watch cannot go on. */
export function watchErrorEvent(ended: CredentialEnded): string {
  const status = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: ended.message,
    reason: "Unauthorized",
    code: 401,
  };
  return `${JSON.stringify({ type: "ERROR", object: status })}\n`;
}

/** How long a watch event in progress may take to complete before a cut watch is dropped mid-event. */
const CUT_GRACE_SECONDS = 5;

/**
 * Ends a response whose headers were sent: a Kubernetes watch with its final ERROR event (the
 * upstream is dropped once it is out), anything else by destroying it, which the agent sees as
 * a truncated body; the exchange's pipeline then fails with `ended`.
 */
export function endResponse(
  ended: CredentialEnded,
  upstream: IncomingMessage,
  res: ServerResponse,
  tail: WatchTail | null,
  timers: Timers,
): void {
  const stop = () => {
    upstream.destroy(ended);
  };
  if (tail) tail.endWith(watchErrorEvent(ended));
  if (!tail || res.writableFinished) {
    stop();
    return;
  }
  res.once("finish", stop);
  timers.start("cut", CUT_GRACE_SECONDS, stop);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;

/**
 * The last stage of a Kubernetes watch response: passes bytes through unchanged while following
 * where each top-level JSON value (one watch event) ends, so a final event is only ever written
 * between two events. `end(line)` writes it once the event being sent is complete and ends the
 * stream; what arrives after is dropped.
 */
export class WatchTail extends Transform {
  #depth = 0;
  #inString = false;
  #escaped = false;
  #lastByte = NEWLINE;
  #closing: string | null = null;
  #done = false;

  /** Ends the stream with `line` after the event in progress (at once between events). */
  endWith(line: string): void {
    if (this.#done || this.#closing !== null) return;
    this.#closing = line;
    if (this.#depth === 0 && !this.#inString) this.#finish();
  }

  get finished(): boolean {
    return this.#done;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#done) {
      callback();
      return;
    }
    if (this.#closing === null) {
      this.#scan(chunk, chunk.length);
      callback(null, chunk);
      return;
    }
    // Closing: pass up to the end of the event in progress, then the final event.
    const end = this.#scan(chunk, chunk.length, true);
    if (end === -1) {
      callback(null, chunk);
      return;
    }
    if (end > 0) this.push(chunk.subarray(0, end));
    this.#finish();
    callback();
  }

  #finish(): void {
    this.#done = true;
    this.push(this.#lastByte === NEWLINE ? this.#closing : `\n${this.#closing}`);
    this.push(null);
  }

  /** Follows `chunk`; with `stopAtBoundary`, returns the offset just past the first completed value (or -1). */
  #scan(chunk: Buffer, length: number, stopAtBoundary = false): number {
    let depth = this.#depth;
    let inString = this.#inString;
    let escaped = this.#escaped;
    for (let i = 0; i < length; i++) {
      const byte = chunk[i] as number;
      if (inString) {
        if (escaped) escaped = false;
        else if (byte === BACKSLASH) escaped = true;
        else if (byte === QUOTE) inString = false;
        continue;
      }
      if (byte === QUOTE) inString = true;
      else if (byte === 0x7b || byte === 0x5b) depth++;
      else if ((byte === 0x7d || byte === 0x5d) && depth > 0) {
        depth--;
        if (depth === 0 && stopAtBoundary) {
          this.#depth = 0;
          this.#inString = false;
          this.#escaped = false;
          this.#lastByte = byte;
          return i + 1;
        }
      }
    }
    this.#depth = depth;
    this.#inString = inString;
    this.#escaped = escaped;
    if (length > 0) this.#lastByte = chunk[length - 1] as number;
    return -1;
  }
}
