import { createWriteStream } from "node:fs";
import type { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { loadConfig } from "../config/load.ts";
import { SluiceError } from "../errors.ts";
import { sessionStream } from "../events/index.ts";
import { openStore } from "../eventstore/open.ts";
import type { RecordedEvent } from "../eventstore/port.ts";
import { asciicastLines } from "../export/asciicast.ts";
import { sessionRecording } from "../export/replay-frames.ts";

/**
 * `sluice replay SESSION_ID`: plays a recorded session in the terminal with its timing
 * (`--speed 2` twice as fast, `--no-wait` all at once), or writes it as asciicast v2
 * (`--format asciicast`, to `--output FILE` or stdout). Only what was recorded is shown:
 * masked output, never the raw values.
 */
export async function replayCommand(
  sessionId: string,
  options: { config?: string; speed?: string; wait?: boolean; format?: string; output?: string },
  out: Writable = process.stdout,
): Promise<number> {
  const speed = Number(options.speed ?? "1");
  if (!Number.isFinite(speed) || speed <= 0)
    throw new SluiceError("CONFIG_INVALID", `--speed must be a positive number, not ${options.speed}`);
  const format = options.format ?? "terminal";
  if (format !== "terminal" && format !== "asciicast")
    throw new SluiceError("CONFIG_INVALID", `--format must be terminal or asciicast, not ${format}`);
  const config = loadConfig({ file: options.config });
  const store = await openStore(config.store);
  let events: RecordedEvent[];
  try {
    events = [];
    for await (const event of store.readStream(sessionStream(sessionId))) events.push(event);
  } finally {
    await store.close();
  }
  if (events.length === 0) throw new SluiceError("NOT_FOUND", `no session ${sessionId} in the log`);
  const recording = sessionRecording(events);

  const target = options.output ? createWriteStream(options.output) : out;
  const write = (text: string) =>
    new Promise<void>((resolve, reject) =>
      target.write(text, (error) => (error ? reject(error) : resolve())),
    );
  if (format === "asciicast") {
    for (const line of asciicastLines(recording)) await write(`${line}\n`);
  } else {
    let clock = 0;
    for (const frame of recording.frames) {
      if (frame.channel === "stdin") continue; // a terminal echoes what was typed; playing input too would double it
      if (options.wait !== false && frame.offsetMs > clock) await sleep((frame.offsetMs - clock) / speed);
      clock = Math.max(clock, frame.offsetMs);
      await write(frame.data);
    }
  }
  if (options.output) await new Promise<void>((resolve) => target.end(resolve));
  return 0;
}
