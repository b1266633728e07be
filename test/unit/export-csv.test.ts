import { describe, expect, it } from "vitest";
import type { EventData } from "../../src/events/index.ts";
import {
  CommandJoin,
  type CompletedCommand,
  type DecidedCommand,
  type EventRef,
  type SessionInfo,
} from "../../src/export/commands.ts";
import { csvField, csvRow } from "../../src/export/csv.ts";

const ref = (position: number): EventRef => ({
  position: BigInt(position),
  hash: String(position).padStart(64, "0"),
  eventId: `e${position}`,
  time: `2026-03-01T10:00:${String(position % 60).padStart(2, "0")}.000Z`,
  gatewayInstance: "gw",
  actor: "agent-7",
});
const info = (sessionId: string): SessionInfo => ({
  sessionId,
  identity: { subject: `agent-of-${sessionId}`, groups: [], kind: "agent" },
  target: "db",
  protocol: "postgres",
  client: { address: "127.0.0.1" },
});
const decided = (sessionId: string, commandId: string, position: number): DecidedCommand => ({
  ref: ref(position),
  session: info(sessionId),
  data: {
    sessionId,
    commandId,
    protocol: "postgres",
    command: "SELECT 1",
    classification: {},
    decision: "allow",
    rule: null,
    reason: "ok",
    policyVersion: 1,
  },
});
const completed = (sessionId: string, commandId: string, position: number): CompletedCommand => ({
  ref: ref(position),
  data: {
    sessionId,
    commandId,
    status: "ok",
    durationMs: 1,
    rows: 2,
    masked: [],
  } as EventData<"CommandCompleted">,
});

function join(lookup: (id: string) => Promise<SessionInfo | undefined> = async () => undefined) {
  const out: { commandId: string; completed: boolean }[] = [];
  const j = new CommandJoin(lookup, (d, c) =>
    out.push({ commandId: d.data.commandId, completed: c !== undefined }),
  );
  return { j, out };
}

describe("CSV fields", () => {
  it("quotes only what RFC 4180 needs and doubles quotes", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("two\nlines")).toBe('"two\nlines"');
    expect(csvField("cr\r")).toBe('"cr\r"');
  });

  it("writes a row with the decision, its session and its completion", () => {
    const row = csvRow(decided("s1", "c1", 7), completed("s1", "c1", 9)).split(",");
    expect(row[0]).toBe("7");
    expect(row[4]).toBe("agent-of-s1");
    expect(row[10]).toBe(""); // no rule (default deny would name none either)
    expect(row[14]).toBe("ok");
    expect(row[15]).toBe("2");
    expect(row[18]).toBe(ref(9).time);
  });
});

describe("CommandJoin", () => {
  it("holds a decision until its completion, then releases it once", () => {
    const { j, out } = join();
    j.decided(decided("s1", "c1", 1));
    expect(out).toEqual([]);
    j.completed(completed("s1", "c1", 2));
    j.completed(completed("s1", "c1", 3));
    expect(out).toEqual([{ commandId: "c1", completed: true }]);
  });

  it("ignores completions of decisions made before the range", () => {
    const { j, out } = join();
    j.completed(completed("s1", "earlier", 1));
    j.finish();
    expect(out).toEqual([]);
  });

  it("releases a session's unfinished decisions when it ends, and the rest at the end", () => {
    const { j, out } = join();
    j.decided(decided("s1", "c1", 1));
    j.decided(decided("s2", "c2", 2));
    j.sessionEnded("s1");
    expect(out).toEqual([{ commandId: "c1", completed: false }]);
    j.finish();
    expect(out.map((o) => o.commandId)).toEqual(["c1", "c2"]);
  });

  it("bounds the decisions it holds: the oldest session's come out first", () => {
    const { j, out } = join();
    for (let n = 0; n <= 10_000; n++) j.decided(decided(`s${n}`, `c${n}`, n + 1));
    expect(out).toEqual([{ commandId: "c0", completed: false }]);
  });

  it("asks the store for a session it has not seen, once", async () => {
    let asked = 0;
    const { j } = join(async (id) => {
      asked += 1;
      return info(id);
    });
    const first = j.session("s9");
    expect(first).toBeInstanceOf(Promise);
    expect((await first)?.identity.subject).toBe("agent-of-s9");
    expect(j.session("s9")).toMatchObject({ sessionId: "s9" });
    expect(asked).toBe(1);
  });
});
