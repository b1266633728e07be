import type { SessionRecording } from "./replay-frames.ts";

/**
 * asciicast v2 (asciinema): a JSON header line, then one `[seconds, "o"|"i", data]` line per
 * frame. Output and stderr are "o" (both reached the agent's terminal), the agent's input "i".
 */
export function* asciicastLines(recording: SessionRecording): Generator<string> {
  const terminal = recording.terminal;
  // A client whose own terminal reports no size (0) gets the classic 80×24.
  yield JSON.stringify({
    version: 2,
    width: terminal?.cols || 80,
    height: terminal?.rows || 24,
    timestamp: Math.floor(recording.startedAt.getTime() / 1000),
    ...(recording.endedMs !== null ? { duration: recording.endedMs / 1000 } : {}),
    title: `sluice session ${recording.sessionId} (${recording.subject} on ${recording.target})`,
    env: { TERM: terminal?.term ?? "xterm" },
  });
  for (const frame of recording.frames) {
    yield JSON.stringify([
      Number((frame.offsetMs / 1000).toFixed(6)),
      frame.channel === "stdin" ? "i" : "o",
      frame.data,
    ]);
  }
}
