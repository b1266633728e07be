import { StringDecoder } from "node:string_decoder";
import type { EventInput } from "../../events/index.ts";
import type { Gate, Session } from "../../gate/gate.ts";
import type { SshProxyConfig } from "./config.ts";

/**
 * Where a command's masked output goes besides the agent. A shell is recorded in time
 * (OutputRecorded, batched); an exec keeps the first bytes of its output for CommandCompleted.
 * `write` may return a promise: the relay waits on it, which is how recording applies
 * backpressure to the upstream.
 */
export interface OutputSink {
  write(channel: Channel, data: Buffer): void | Promise<void>;
  /** What was kept and what was cut, for CommandCompleted. */
  finish(): Promise<{ output?: string; truncatedBytes: number }>;
}

export type Channel = "stdin" | "stdout" | "stderr";
type Chunk = EventInput<"OutputRecorded">["chunks"][number];

/** Timed chunks of a shell session, appended in batches; offsets are from the session's start. */
export class ShellRecorder implements OutputSink {
  #batch: Chunk[] = [];
  #batchBytes = 0;
  #kept = 0;
  #cut = 0;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #appending: Promise<void> = Promise.resolve();
  #failure: Error | null = null;
  readonly #decoders = new Map<Channel, StringDecoder>();

  constructor(
    private readonly gate: Gate,
    private readonly session: Session,
    private readonly limits: SshProxyConfig["recording"],
    /** Told once when an append fails: the shell must end, since it can no longer be recorded. */
    private readonly onFailure: (error: Error) => void,
  ) {}

  write(channel: Channel, data: Buffer): void | Promise<void> {
    if (this.#failure) return;
    if (this.#kept + data.length > this.limits.maxSessionBytes) {
      this.#cut += data.length;
      return;
    }
    this.#kept += data.length;
    let decoder = this.#decoders.get(channel);
    if (!decoder) {
      decoder = new StringDecoder("utf8"); // keeps a character split across chunks whole
      this.#decoders.set(channel, decoder);
    }
    const text = decoder.write(data);
    if (text.length === 0) return;
    const offsetMs = Date.now() - this.session.startedAt;
    const last = this.#batch[this.#batch.length - 1];
    // Keystrokes and output arriving within a few ms on one channel become one chunk.
    if (last && last.channel === channel && offsetMs - last.offsetMs < 5) last.data += text;
    else this.#batch.push({ offsetMs, channel, data: text });
    this.#batchBytes += data.length;
    if (this.#batchBytes >= this.limits.batchBytes) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.limits.batchMs);
    if (this.#inFlight + this.#batchBytes > this.limits.maxPendingBytes) return this.#appending;
  }

  async finish(): Promise<{ truncatedBytes: number }> {
    this.#flush();
    await this.#appending;
    if (this.#failure) throw this.#failure;
    return { truncatedBytes: this.#cut };
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#batch.length === 0 || this.#failure) return;
    const chunks = this.#batch;
    const bytes = this.#batchBytes;
    this.#batch = [];
    this.#batchBytes = 0;
    this.#inFlight += bytes;
    // One append at a time keeps the chunks in order in the stream.
    this.#appending = this.#appending.then(async () => {
      try {
        if (!this.#failure) await this.gate.recordOutput(this.session, chunks);
      } catch (error) {
        this.#failure = error as Error;
        this.onFailure(this.#failure);
      } finally {
        this.#inFlight -= bytes;
      }
    });
  }
}

/** The first `limit` bytes of an exec's masked output (stdout and stderr as they came), the rest counted. */
export class ExecCapture implements OutputSink {
  #parts: Buffer[] = [];
  #kept = 0;
  #full = false;
  #cut = 0;

  constructor(private readonly limit: number) {}

  write(channel: Channel, data: Buffer): void {
    if (channel === "stdin") return;
    const room = this.#full ? 0 : this.limit - this.#kept;
    if (room <= 0) {
      this.#cut += data.length;
      return;
    }
    let end = Math.min(room, data.length);
    if (end < data.length) {
      // Cut before a character, not inside one: back off over UTF-8 continuation bytes.
      while (end > 0 && ((data[end] as number) & 0xc0) === 0x80) end--;
      this.#full = true;
    }
    this.#parts.push(Buffer.from(data.subarray(0, end))); // a copy: the stream may reuse its buffer
    this.#kept += end;
    this.#cut += data.length - end;
  }

  async finish(): Promise<{ output?: string; truncatedBytes: number }> {
    const output = this.#kept > 0 ? Buffer.concat(this.#parts).toString("utf8") : undefined;
    return { ...(output !== undefined ? { output } : {}), truncatedBytes: this.#cut };
  }
}
