import { type Readable, Transform, type TransformCallback, type Writable } from "node:stream";
import type { ClientChannel, ServerChannel } from "ssh2";
import { type ContentRule, type MaskFinding, MaskingStream } from "../../gate/masking/index.ts";
import type { MaskingTransform } from "./mask-pool.ts";
import type { Channel, OutputSink } from "./recorder.ts";

/**
 * Pipes one running command between the agent's channel and the upstream's: stdout and stderr
 * through the masking engine (chunk boundaries handled by MaskingStream) and into the sink,
 * stdin from the agent to the upstream (recorded masked when the sink wants it). Every hop is
 * a pipe, so a slow agent (SSH window) or a slow recorder holds the upstream back. When the
 * upstream ends, all output is written first; the exit status or signal, then EOF/close, follow
 * on `finish()`, once the outcome has been handed to the recorder.
 */

export type ExitInfo =
  | { code: number }
  | { signal: string; coreDumped: boolean; message: string }
  /** The upstream closed without an exit status (or the agent went away first). */
  | null;

export interface RelayResult {
  exit: ExitInfo;
  masked: { field: string; rule: string; count: number }[];
  /** Sends the exit status (or signal) and EOF/close to the agent. */
  finish(): void;
}

export interface RelayOptions {
  rules: ContentRule[];
  maxCarry: number;
  /** Makes the masking stream for stdout and stderr (on a worker thread, see MaskPool). */
  masker: (rules: ContentRule[], maxCarry: number) => MaskingTransform;
  sink: OutputSink;
  recordStdin: boolean;
}

/** How an upstream channel ended, watched from the moment it opened. */
export interface UpstreamEnd {
  exit: ExitInfo;
  closed: Promise<void>;
}

/**
 * Call in the callback that opens the channel, before anything awaits: ssh2 handles a whole
 * socket read at once, so a quick command's exit status and close may be emitted before an
 * awaiting caller would get to listen.
 */
export function watchEnd(upstream: ClientChannel): UpstreamEnd {
  const end: UpstreamEnd = {
    exit: null,
    closed: new Promise<void>((resolve) => upstream.once("close", () => resolve())),
  };
  upstream.once("exit", (code: number | null, signal?: string, dump?: boolean, message?: string) => {
    end.exit =
      code !== null && code !== undefined
        ? { code }
        : {
            signal: (signal ?? "SIGKILL").replace(/^SIG/, ""),
            coreDumped: Boolean(dump),
            message: message ?? "",
          };
  });
  return end;
}

export function relay(
  agent: ServerChannel,
  upstream: ClientChannel,
  end: UpstreamEnd,
  options: RelayOptions,
): Promise<RelayResult> {
  const { rules, sink } = options;
  const masks: { field: Channel; stream: MaskingTransform }[] = [];
  const outward = (field: "stdout" | "stderr", from: Readable, to: Writable): Promise<void> => {
    let source = from;
    if (rules.length > 0) {
      const mask = options.masker(rules, options.maxCarry);
      masks.push({ field, stream: mask });
      // Masking failed: the channel ends rather than let anything through unmasked.
      mask.once("error", () => agent.close());
      source = from.pipe(mask);
    }
    const tap = new SinkTap(field, sink);
    source.pipe(tap).pipe(to, { end: false });
    return new Promise((resolve) => {
      tap.once("end", resolve);
      tap.once("error", () => resolve());
    });
  };

  const stdout = outward("stdout", upstream, agent);
  const stderr = outward("stderr", upstream.stderr, agent.stderr);

  // The agent's input: straight to the upstream; a copy, masked, to the recording.
  let stdinRecord: MaskingStream | undefined;
  if (options.recordStdin) {
    stdinRecord = new MaskingStream(rules, { maxCarry: options.maxCarry });
    stdinRecord.on("data", (chunk: Buffer) => void sink.write("stdin", chunk));
    agent.on("data", (chunk: Buffer) => stdinRecord?.write(chunk));
    agent.once("end", () => stdinRecord?.end());
  }
  agent.pipe(upstream);

  let agentGone = false;
  let agentClosed = () => {};
  const hungUp = new Promise<void>((resolve) => {
    agentClosed = () => {
      agentGone = true;
      upstream.close(); // the agent hung up: stop the upstream command too
      resolve();
    };
    agent.once("close", agentClosed);
  });

  return (async () => {
    await Promise.race([Promise.all([stdout, stderr, end.closed]), hungUp]);
    agent.removeListener("close", agentClosed);
    if (!agentGone) await endStderr(agent.stderr);
    stdinRecord?.end();
    const masked = masks.flatMap(({ field, stream }) =>
      stream.findings().map((f: MaskFinding) => ({ field, rule: f.rule, count: f.count })),
    );
    const ended = end.exit;
    const finish = () => {
      if (agentGone) return;
      if (ended && "code" in ended) agent.exit(ended.code);
      else if (ended) {
        try {
          agent.exit(ended.signal, ended.coreDumped, ended.message);
        } catch {
          agent.exit(255); // a signal name the protocol does not know
        }
      }
      agent.end();
    };
    return { exit: ended, masked, finish };
  })();
}

function endStderr(stderr: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stderr.writableFinished) return resolve();
    stderr.once("finish", resolve);
    stderr.once("error", () => resolve());
    stderr.end();
  });
}

/** Passes chunks through unchanged after handing them to the sink; waits when the sink asks it to. */
class SinkTap extends Transform {
  constructor(
    private readonly field: Channel,
    private readonly sink: OutputSink,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const wait = this.sink.write(this.field, chunk);
    if (wait) wait.then(() => callback(null, chunk), callback);
    else callback(null, chunk);
  }
}
