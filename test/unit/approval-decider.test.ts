import { describe, expect, it } from "vitest";
import {
  type ApprovalCommand,
  type ApprovalEvent,
  type ApprovalState,
  decideApproval,
  evolveApproval,
  initialApprovalState,
} from "../../src/domain/approval.ts";
import type { EventData, IdentityRef } from "../../src/events/index.ts";

const t0 = new Date("2026-11-25T10:00:00Z");
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const person = (subject: string, groups: string[] = ["dba"]): IdentityRef => ({
  subject,
  groups,
  kind: "human",
});

const request = (over: Partial<EventData<"ApprovalRequested">> = {}): EventData<"ApprovalRequested"> => ({
  approvalId: "ap-1",
  requester: { subject: "agent-42", groups: ["agents", "dba"], kind: "agent" },
  target: "orders-db",
  command: "UPDATE orders SET total = 0 WHERE id = 7",
  classification: { kinds: ["update"] },
  rule: "approve-order-writes",
  policyVersion: 3,
  approverGroups: ["dba", "sre"],
  quorum: 2,
  anyDenyEnds: true,
  expiresAt: at(900).toISOString(),
  ...over,
});

/** Given past events, when a command is decided, then these events (or this refusal). */
function given(events: ApprovalEvent[]) {
  const state = events.reduce<ApprovalState>(evolveApproval, initialApprovalState);
  return {
    state,
    when: (command: ApprovalCommand) => decideApproval(state, command),
  };
}
const requested = (over?: Partial<EventData<"ApprovalRequested">>): ApprovalEvent => ({
  type: "ApprovalRequested",
  data: request(over),
});
const voted = (subject: string, vote: "approve" | "deny" = "approve"): ApprovalEvent => ({
  type: "ApprovalVoteCast",
  data: { approvalId: "ap-1", voter: person(subject), vote },
});
const eventsOf = (decided: ReturnType<typeof decideApproval>): ApprovalEvent[] => {
  if ("refused" in decided) throw new Error(`refused: ${decided.refused}`);
  return decided.events;
};
const types = (decided: ReturnType<typeof decideApproval>) =>
  "events" in decided ? decided.events.map((e) => e.type) : decided.refused;
const vote = (
  subject: string,
  v: "approve" | "deny" = "approve",
  seconds = 10,
  groups?: string[],
): ApprovalCommand => ({
  type: "vote",
  voter: person(subject, groups),
  vote: v,
  now: at(seconds),
});

describe("approval workflow", () => {
  it("opens a request once", () => {
    expect(types(given([]).when({ type: "request", request: request() }))).toEqual(["ApprovalRequested"]);
    expect(types(given([requested()]).when({ type: "request", request: request() }))).toBe(
      "approval ap-1 exists already",
    );
  });

  it("counts a vote, and grants at the quorum of distinct approvers", () => {
    expect(types(given([requested()]).when(vote("dana")))).toEqual(["ApprovalVoteCast"]);
    const granted = given([requested(), voted("dana")]).when(vote("sam", "approve", 20, ["sre"]));
    expect(types(granted)).toEqual(["ApprovalVoteCast", "ApprovalGranted"]);
    expect("events" in granted && granted.events[1]?.data).toMatchObject({ approvers: ["dana", "sam"] });
  });

  it("refuses the requester, non-approvers, a second vote by the same approver, and votes after expiry", () => {
    const open = given([requested(), voted("dana")]);
    expect(types(open.when(vote("agent-42")))).toBe("the requester may not vote on its own request");
    expect(types(open.when(vote("eve", "approve", 10, ["agents"])))).toBe(
      "eve is not in an approver group (dba, sre)",
    );
    expect(types(open.when(vote("dana")))).toBe("dana has voted already");
    expect(types(open.when(vote("dana", "deny")))).toBe("dana has voted already");
    expect(types(open.when(vote("sam", "approve", 900)))).toBe("approval ap-1 has expired");
  });

  it("ends on any deny by default, and only blocks the quorum when configured otherwise", () => {
    expect(types(given([requested()]).when(vote("dana", "deny")))).toEqual([
      "ApprovalVoteCast",
      "ApprovalDenied",
    ]);
    const lenient = given([requested({ anyDenyEnds: false, quorum: 1 }), voted("dana", "deny")]);
    expect(lenient.state.status).toBe("pending");
    expect(types(lenient.when(vote("sam")))).toEqual(["ApprovalVoteCast", "ApprovalGranted"]);
  });

  it("accepts nothing after a terminal event; expiring or cancelling it again is a harmless no-op", () => {
    for (const terminal of [
      { type: "ApprovalGranted", data: { approvalId: "ap-1", approvers: ["dana", "sam"] } },
      { type: "ApprovalDenied", data: { approvalId: "ap-1", deniedBy: ["dana"], reason: "no" } },
      { type: "ApprovalExpired", data: { approvalId: "ap-1" } },
      { type: "ApprovalCancelled", data: { approvalId: "ap-1", reason: "agent disconnected" } },
    ] as ApprovalEvent[]) {
      const ended = given([requested(), terminal]);
      expect(types(ended.when(vote("sam")))).toMatch(
        /^approval ap-1 is already (granted|denied|expired|cancelled)$/,
      );
      expect(types(ended.when({ type: "expire", now: at(1000) }))).toEqual([]);
      expect(types(ended.when({ type: "cancel", reason: "x" }))).toEqual([]);
    }
  });

  it("expires only when due", () => {
    expect(types(given([requested()]).when({ type: "expire", now: at(899) }))).toEqual([]);
    expect(types(given([requested()]).when({ type: "expire", now: at(900) }))).toEqual(["ApprovalExpired"]);
  });

  it("cancels a pending request when the agent disconnects", () => {
    expect(types(given([requested()]).when({ type: "cancel", reason: "agent disconnected" }))).toEqual([
      "ApprovalCancelled",
    ]);
  });

  it("records an auto-approval as the policy's vote, naming the rule", () => {
    const decided = given([requested()]).when({
      type: "autoApprove",
      rule: "staging-reads-in-hours",
      now: at(1),
    });
    expect(decided).toEqual({
      events: [
        {
          type: "ApprovalVoteCast",
          data: {
            approvalId: "ap-1",
            voter: { subject: "policy:staging-reads-in-hours", groups: [], kind: "policy" },
            vote: "approve",
            rule: "staging-reads-in-hours",
          },
        },
        {
          type: "ApprovalGranted",
          data: { approvalId: "ap-1", approvers: ["policy:staging-reads-in-hours"] },
        },
      ],
    });
  });

  describe("races (the loser of an append retries on the state the winner left)", () => {
    it("two approvers voting at the same moment: both count, the second grants", () => {
      const start = given([requested(), voted("dana")]);
      const first = start.when(vote("sam", "approve", 10, ["sre"]));
      const second = start.when(vote("lee", "approve", 10, ["dba"]));
      expect(types(first)).toEqual(["ApprovalVoteCast", "ApprovalGranted"]);
      expect(types(second)).toEqual(["ApprovalVoteCast", "ApprovalGranted"]);
      // sam's append wins; lee's retry sees a granted request and is refused: one grant only.
      const after = given([requested(), voted("dana"), ...eventsOf(first)]);
      expect(types(after.when(vote("lee")))).toBe("approval ap-1 is already granted");
    });

    it("a vote racing expiry: whichever lands first decides, the other is refused or a no-op", () => {
      const start = given([requested({ quorum: 1 })]);
      const granted = given([
        requested({ quorum: 1 }),
        ...eventsOf(start.when(vote("dana", "approve", 899))),
      ]);
      expect(granted.state.status).toBe("granted");
      expect(types(granted.when({ type: "expire", now: at(900) }))).toEqual([]);
      const expired = given([
        requested({ quorum: 1 }),
        { type: "ApprovalExpired", data: { approvalId: "ap-1" } },
      ]);
      expect(types(expired.when(vote("dana", "approve", 899)))).toBe("approval ap-1 is already expired");
    });

    it("a vote after cancel is refused", () => {
      const cancelled = given([
        requested(),
        { type: "ApprovalCancelled", data: { approvalId: "ap-1", reason: "agent disconnected" } },
      ]);
      expect(types(cancelled.when(vote("dana")))).toBe("approval ap-1 is already cancelled");
    });
  });
});
