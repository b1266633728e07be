import { Transform, type TransformCallback } from "node:stream";
import type { Worker } from "node:worker_threads";
import { type ContentRule, type MaskFinding, MaskingStream } from "../../gate/masking/index.ts";
import { startTsWorker } from "../../runtime/ts-worker.ts";

/**
 * Masking off the main thread: the SSH port's main thread decrypts, relays and encrypts, while
 * worker threads run the detectors, so a large output uses two cores instead of queueing both
 * jobs on one. Each stream sticks to one worker (its MaskingStream state lives there); streams
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

/** Bytes a stream may have posted to its worker and not yet had processed; past it, writes wait. */
const MAX_IN_FLIGHT = 1024 * 1024;
/** Largest message to a worker when chunks have piled up while it was busy. */
const MAX_MESSAGE = 256 * 1024;

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
 * masked; chunks arriving meanwhile are sent together when it replies, so a bulk output
 * travels in few large messages and a keystroke in one small one.
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
    if (this.#inFlight === 0) this.#send();
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
    if (this.#pendingBytes > 0) this.#send();
    else if (this.#flushed && this.#inFlight === 0) this.#end();
    const waiting = this.#waiting;
    if (waiting && this.#inFlight + this.#pendingBytes < MAX_IN_FLIGHT) {
      this.#waiting = undefined;
      waiting();
    }
  }

  #send(): void {
    // Whole chunks up to MAX_MESSAGE (the engine is slower on much larger ones); the rest goes next.
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
