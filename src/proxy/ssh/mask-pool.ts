import { Transform, type TransformCallback } from "node:stream";
import type { Worker } from "node:worker_threads";
import { type ContentRule, type MaskFinding, MaskingStream } from "../../gate/masking/index.ts";
import { startTsWorker } from "../../runtime/ts-worker.ts";

/**
 * Masking off the main thread: the SSH port's main thread decrypts, relays and encrypts, while
 * worker threads run the detectors, so a large output uses two cores instead of queueing both
 * jobs on one. Each stream sticks to one worker (its ChunkMasker state lives there); streams
 * are spread over the workers in turn. With no workers, streams mask in place.
 */

export type ToWorker =
  | { t: "open"; id: number; rules: ContentRule[]; maxCarry: number }
  | { t: "data"; id: number; data: Uint8Array }
  | { t: "end"; id: number }
  | { t: "drop"; id: number };
export type FromWorker =
  /** The masked output for `bytes` of input (empty while the engine holds a possible secret back). */
  | { t: "data"; id: number; data: Uint8Array; bytes: number }
  | { t: "end"; id: number; data: Uint8Array; findings: MaskFinding[] }
  | { t: "error"; id: number; message: string };

/** A Transform that masks what passes, and tells what it masked once ended. */
export interface MaskingTransform extends Transform {
  findings(): MaskFinding[];
}

/**
 * Bytes a stream may have posted to its worker or queued, not yet masked; past it, writes wait.
 * (Masked output not yet read holds writes back too: Transform defers a late callback then.)
 */
const MAX_IN_FLIGHT = 2 * 1024 * 1024;
/** Largest message to a worker when chunks have piled up while it was busy. */
const MAX_MESSAGE = 256 * 1024;
/**
 * While the worker masks, the next chunks are posted once this much has piled up: it finds
 * them queued when done instead of waiting for the main thread (busy with SSH crypto) to reply.
 */
const POST_AHEAD = 64 * 1024;
/** Bytes posted and not yet answered, above which chunks wait for the worker to answer. */
const MAX_POSTED = 4 * MAX_MESSAGE;

export class MaskPool {
  readonly #workers: { worker: Worker; streams: Map<number, RemoteMaskingStream> }[] = [];
  #next = 0;
  #ids = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const worker = startTsWorker(new URL("./mask-worker.ts", import.meta.url));
      const streams = new Map<number, RemoteMaskingStream>();
      worker.on("message", (message: FromWorker) => streams.get(message.id)?.receive(message));
      worker.on("error", (error) => {
        // Fail closed: every stream of a dead worker ends in an error, nothing passes unmasked.
        for (const stream of streams.values()) stream.destroy(error);
        streams.clear();
      });
      worker.unref();
      this.#workers.push({ worker, streams });
    }
  }

  stream(rules: ContentRule[], maxCarry: number): MaskingTransform {
    const slot = this.#workers[this.#next++ % Math.max(1, this.#workers.length)];
    if (!slot) return new MaskingStream(rules, { maxCarry });
    const id = ++this.#ids;
    const stream = new RemoteMaskingStream(id, slot.worker, () => slot.streams.delete(id));
    slot.streams.set(id, stream);
    slot.worker.postMessage({ t: "open", id, rules, maxCarry } satisfies ToWorker);
    return stream;
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map(({ worker }) => worker.terminate()));
    this.#workers.length = 0;
  }
}

/**
 * The main thread's side of one stream. A chunk goes to the worker at once when none is being
 * masked; chunks arriving meanwhile are sent together, once POST_AHEAD bytes are waiting or
 * when the worker replies, so a bulk output travels in few large messages with the next one
 * always queued, and a keystroke in one small message.
 */
class RemoteMaskingStream extends Transform implements MaskingTransform {
  #inFlight = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #waiting: TransformCallback | undefined;
  #flushed: TransformCallback | undefined;
  #findings: MaskFinding[] = [];
  #done = false;

  constructor(
    private readonly id: number,
    private readonly worker: Worker,
    private readonly forget: () => void,
  ) {
    super();
  }

  findings(): MaskFinding[] {
    return this.#findings;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#inFlight === 0 || (this.#pendingBytes >= POST_AHEAD && this.#inFlight < MAX_POSTED))
      this.#send();
    if (this.#inFlight + this.#pendingBytes < MAX_IN_FLIGHT) callback();
    else this.#waiting = callback;
  }

  override _flush(callback: TransformCallback): void {
    this.#flushed = callback;
    if (this.#inFlight === 0) this.#end();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#done) this.worker.postMessage({ t: "drop", id: this.id } satisfies ToWorker);
    this.#done = true;
    this.forget();
    callback(error);
  }

  receive(message: FromWorker): void {
    if (message.t === "error") {
      this.#done = true;
      this.destroy(new Error(`masking failed: ${message.message}`));
      return;
    }
    if (message.data.byteLength > 0)
      this.push(Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength));
    if (message.t === "end") {
      this.#done = true;
      this.#findings = message.findings;
      this.forget();
      this.#flushed?.();
      return;
    }
    this.#inFlight -= message.bytes;
    if (this.#pendingBytes > 0 && this.#inFlight < MAX_POSTED) this.#send();
    else if (this.#flushed && this.#inFlight === 0 && this.#pendingBytes === 0) this.#end();
    const waiting = this.#waiting;
    if (waiting && this.#inFlight + this.#pendingBytes < MAX_IN_FLIGHT) {
      this.#waiting = undefined;
      waiting();
    }
  }

  #send(): void {
    // Whole chunks up to MAX_MESSAGE (bounds what one reply holds up); the rest goes next.
    let count = 0;
    let bytes = 0;
    while (count < this.#pending.length) {
      const size = (this.#pending[count] as Buffer).length;
      if (count > 0 && bytes + size > MAX_MESSAGE) break;
      bytes += size;
      count++;
    }
    // A standalone copy: its memory moves to the worker instead of being cloned.
    const data = new Uint8Array(bytes);
    let at = 0;
    for (let i = 0; i < count; i++) {
      const chunk = this.#pending[i] as Buffer;
      data.set(chunk, at);
      at += chunk.length;
    }
    this.#pending.splice(0, count);
    this.#pendingBytes -= bytes;
    this.#inFlight += bytes;
    this.worker.postMessage({ t: "data", id: this.id, data } satisfies ToWorker, [
      data.buffer as ArrayBuffer,
    ]);
  }

  #end(): void {
    this.worker.postMessage({ t: "end", id: this.id } satisfies ToWorker);
  }
}
