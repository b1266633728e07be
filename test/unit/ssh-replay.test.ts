import { describe, expect, it } from "vitest";
import { makeMetadata, type NewEvent, newEvent } from "../../src/events/index.ts";
import type { RecordedEvent } from "../../src/eventstore/port.ts";
import { asciicastLines } from "../../src/export/asciicast.ts";
import { sessionRecording } from "../../src/export/replay-frames.ts";

const sessionId = "s-1";
const t0 = Date.parse("2026-03-01T10:00:00.000Z");
let revision = 0n;
const at = (ms: number, event: Omit<NewEvent, "metadata">): RecordedEvent => {
  const made = newEvent(
    event.type,
    event.data as never,
    makeMetadata({ gatewayInstance: "gw", sessionId, time: new Date(t0 + ms) }),
  );
  revision += 1n;
  return {
    ...made,
    stream: `session-${sessionId}`,
    revision,
    position: revision,
    hash: "h",
  } as RecordedEvent;
};

const started = at(0, {
  type: "SessionStarted",
  data: {
    sessionId,
    protocol: "ssh",
    target: "web",
    identity: { subject: "agent-1", groups: [], kind: "agent" },
    client: { address: "127.0.0.1" },
  },
});
const decided = (
  ms: number,
  commandId: string,
  command: string,
  classification: object,
  decision = "allow",
) =>
  at(ms, {
    type: "CommandDecided",
    data: {
      sessionId,
      commandId,
      protocol: "ssh",
      command,
      classification: classification as Record<string, unknown>,
      decision: decision as "allow",
      rule: null,
      reason: decision === "deny" ? "rm is not run through agents" : "ok",
      policyVersion: 1,
    },
  });

describe("replay of a recorded session", () => {
  const shell = [
    started,
    decided(5, "c1", "shell", {
      request: "shell",
      programs: ["?"],
      pty: { term: "xterm-256color", cols: 120, rows: 40 },
    }),
    at(900, {
      type: "OutputRecorded",
      data: {
        sessionId,
        chunks: [
          { offsetMs: 100, channel: "stdout", data: "$ " },
          { offsetMs: 700, channel: "stdin", data: "ls\r" },
          { offsetMs: 710, channel: "stdout", data: "ls\r\na  b\r\n$ " },
        ],
      },
    }),
    at(1500, {
      type: "OutputRecorded",
      data: {
        sessionId,
        chunks: [{ offsetMs: 1200, channel: "stderr", data: "key=«redacted:aws_access_key_id»\r\n" }],
      },
    }),
    at(2000, { type: "SessionEnded", data: { sessionId, reason: "agent disconnected", durationMs: 2000 } }),
  ];

  it("orders a shell's chunks by their offsets and takes the terminal from the shell's pty", () => {
    const recording = sessionRecording(shell);
    expect(recording.terminal).toEqual({ term: "xterm-256color", cols: 120, rows: 40 });
    expect(recording.frames.map((f) => [f.offsetMs, f.channel])).toEqual([
      [100, "stdout"],
      [700, "stdin"],
      [710, "stdout"],
      [1200, "stderr"],
    ]);
    expect(recording.endedMs).toBe(2000);
  });

  it("writes asciicast v2: a header, then output as o and input as i, in seconds", () => {
    const [header, ...events] = [...asciicastLines(sessionRecording(shell))].map((line) => JSON.parse(line));
    expect(header).toMatchObject({
      version: 2,
      width: 120,
      height: 40,
      timestamp: t0 / 1000,
      duration: 2,
      env: { TERM: "xterm-256color" },
    });
    expect(events).toEqual([
      [0.1, "o", "$ "],
      [0.7, "i", "ls\r"],
      [0.71, "o", "ls\r\na  b\r\n$ "],
      [1.2, "o", "key=«redacted:aws_access_key_id»\r\n"],
    ]);
  });

  it("shows exec commands as a prompt line with their kept output, and refusals as the agent saw them", () => {
    const recording = sessionRecording([
      started,
      decided(10, "c1", "uptime", { request: "exec", programs: ["uptime"] }),
      at(40, {
        type: "CommandCompleted",
        data: {
          sessionId,
          commandId: "c1",
          status: "ok",
          durationMs: 30,
          masked: [],
          output: "up 3 days\n",
          truncated: { bytes: 12, rows: 0 },
        },
      }),
      decided(50, "c2", "rm -rf /", { request: "exec", programs: ["rm"] }, "deny"),
    ]);
    expect(recording.terminal).toBeNull();
    expect(recording.frames.map((f) => f.data).join("")).toBe(
      "$ uptime\r\nup 3 days\r\n[… 12 bytes not kept]\r\n$ rm -rf /\r\nsluice: denied: rm is not run through agents\r\n",
    );
    const [header] = [...asciicastLines(recording)].map((line) => JSON.parse(line));
    expect(header).toMatchObject({ width: 80, height: 24 });
  });

  it("shows the statements of a PostgreSQL session the same way", () => {
    const select = at(10, {
      type: "CommandDecided",
      data: {
        sessionId,
        commandId: "q1",
        protocol: "postgres",
        command: "SELECT email FROM customers",
        classification: { kinds: ["select"] },
        decision: "allow",
        rule: null,
        reason: "ok",
        policyVersion: 1,
      },
    });
    const rows = at(20, {
      type: "CommandCompleted",
      data: {
        sessionId,
        commandId: "q1",
        status: "ok",
        durationMs: 3,
        masked: [],
        output: "a***@example.com\n",
      },
    });
    const frames = sessionRecording([started, select, rows]).frames.map((f) => f.data);
    expect(frames).toEqual(["$ SELECT email FROM customers\r\n", "a***@example.com\r\n"]);
  });
});
