import type { RecordedEvent } from "../eventstore/port.ts";

/**
 * A recorded session as timed terminal frames, from its stream: shell sessions from their
 * OutputRecorded chunks (already masked when recorded); exec commands (and the statements and
 * requests of other protocols) as a `$ command` line followed by the output kept in
 * CommandCompleted; refusals as a `sluice: denied` line.
 * Offsets are milliseconds from the session's start.
 */

export interface Frame {
  offsetMs: number;
  channel: "stdin" | "stdout" | "stderr";
  data: string;
}

export interface SessionRecording {
  sessionId: string;
  target: string;
  protocol: string;
  subject: string;
  startedAt: Date;
  /** The agent's terminal, when a pty was requested (first shell's size). */
  terminal: { term: string; cols: number; rows: number } | null;
  frames: Frame[];
  endedMs: number | null;
}

export function sessionRecording(events: readonly RecordedEvent[]): SessionRecording {
  const started = events.find((e) => e.type === "SessionStarted");
  if (started?.type !== "SessionStarted") throw new Error("the stream has no SessionStarted event");
  const t0 = Date.parse(started.metadata.time);
  const at = (e: RecordedEvent) => Math.max(0, Date.parse(e.metadata.time) - t0);
  const frames: Frame[] = [];
  const execs = new Map<string, string>();
  let terminal: SessionRecording["terminal"] = null;
  let endedMs: number | null = null;
  for (const event of events) {
    switch (event.type) {
      case "CommandDecided": {
        const facts = event.data.classification as { request?: string; pty?: SessionRecording["terminal"] };
        if (facts.request === "shell" && facts.pty && !terminal) terminal = facts.pty;
        // A command line: an ssh exec, or a statement / request of the other protocols.
        if (event.data.protocol !== "ssh" || facts.request === "exec") {
          execs.set(event.data.commandId, event.data.command);
          frames.push({ offsetMs: at(event), channel: "stdout", data: `$ ${event.data.command}\r\n` });
        }
        if (event.data.decision === "deny")
          frames.push({
            offsetMs: at(event),
            channel: "stderr",
            data: `sluice: denied: ${event.data.reason}\r\n`,
          });
        break;
      }
      case "CommandCompleted": {
        if (!execs.has(event.data.commandId)) break;
        const { output, truncated } = event.data;
        if (output) frames.push({ offsetMs: at(event), channel: "stdout", data: crlf(output) });
        if (truncated && truncated.bytes > 0)
          frames.push({
            offsetMs: at(event),
            channel: "stderr",
            data: `[… ${truncated.bytes} bytes not kept]\r\n`,
          });
        break;
      }
      case "OutputRecorded":
        for (const chunk of event.data.chunks) frames.push(chunk);
        break;
      case "SessionEnded":
        endedMs = at(event);
        break;
    }
  }
  // Batches are appended in order, but exec frames are timed by their events: order by time, stably.
  frames.sort((a, b) => a.offsetMs - b.offsetMs);
  return {
    sessionId: started.data.sessionId,
    target: started.data.target,
    protocol: started.data.protocol,
    subject: started.data.identity.subject,
    startedAt: new Date(t0),
    terminal,
    frames,
    endedMs,
  };
}

/** Exec output was not written to a pty, so bare newlines get the carriage return a terminal needs. */
function crlf(text: string): string {
  return text.replace(/\r?\n/g, "\r\n");
}
