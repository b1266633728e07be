import type { EventData, IdentityRef } from "../events/index.ts";

/**
 * The just-in-time approval workflow as a pure decider over the `approval-<id>` stream:
 * requested → votes → granted | denied | expired | cancelled. Nothing is accepted after a
 * terminal event. Time is passed in. A refused command returns the reason, never events.
 */

type Terminal = "granted" | "denied" | "expired" | "cancelled";

export type ApprovalState =
  | { status: "none" }
  | {
      status: "pending" | Terminal;
      request: EventData<"ApprovalRequested">;
      approvedBy: string[];
      deniedBy: string[];
    };

export const initialApprovalState: ApprovalState = { status: "none" };

export type ApprovalEvent =
  | { type: "ApprovalRequested"; data: EventData<"ApprovalRequested"> }
  | { type: "ApprovalVoteCast"; data: EventData<"ApprovalVoteCast"> }
  | { type: "ApprovalGranted"; data: EventData<"ApprovalGranted"> }
  | { type: "ApprovalDenied"; data: EventData<"ApprovalDenied"> }
  | { type: "ApprovalExpired"; data: EventData<"ApprovalExpired"> }
  | { type: "ApprovalCancelled"; data: EventData<"ApprovalCancelled"> };

export type ApprovalCommand =
  | { type: "request"; request: EventData<"ApprovalRequested"> }
  | { type: "vote"; voter: IdentityRef; vote: "approve" | "deny"; comment?: string; now: Date }
  /** Auto-approval by a policy rule, recorded as the policy's vote. */
  | { type: "autoApprove"; rule: string; now: Date }
  | { type: "expire"; now: Date }
  | { type: "cancel"; reason: string };

export type Decided = { events: ApprovalEvent[] } | { refused: string };

export function decideApproval(state: ApprovalState, command: ApprovalCommand): Decided {
  if (command.type === "request") {
    if (state.status !== "none") return { refused: `approval ${command.request.approvalId} exists already` };
    return { events: [{ type: "ApprovalRequested", data: command.request }] };
  }
  if (state.status === "none") return { refused: "no such approval request" };
  const { approvalId } = state.request;
  // Expiring or cancelling what already ended is not an error: a job run twice is harmless.
  if (state.status !== "pending") {
    return command.type === "expire" || command.type === "cancel"
      ? { events: [] }
      : { refused: `approval ${approvalId} is already ${state.status}` };
  }
  const expired = (now: Date) => now.getTime() >= Date.parse(state.request.expiresAt);

  switch (command.type) {
    case "expire":
      return { events: expired(command.now) ? [{ type: "ApprovalExpired", data: { approvalId } }] : [] };
    case "cancel":
      return { events: [{ type: "ApprovalCancelled", data: { approvalId, reason: command.reason } }] };
    case "autoApprove": {
      if (expired(command.now)) return { refused: `approval ${approvalId} has expired` };
      const voter: IdentityRef = { subject: `policy:${command.rule}`, groups: [], kind: "policy" };
      return {
        events: [
          { type: "ApprovalVoteCast", data: { approvalId, voter, vote: "approve", rule: command.rule } },
          { type: "ApprovalGranted", data: { approvalId, approvers: [voter.subject] } },
        ],
      };
    }
    case "vote":
      return vote(state, command);
  }
}

function vote(
  state: Exclude<ApprovalState, { status: "none" }>,
  command: Extract<ApprovalCommand, { type: "vote" }>,
): Decided {
  const { request } = state;
  const { voter } = command;
  if (command.now.getTime() >= Date.parse(request.expiresAt)) {
    return { refused: `approval ${request.approvalId} has expired` };
  }
  if (voter.subject === request.requester.subject)
    return { refused: "the requester may not vote on its own request" };
  if (!voter.groups.some((group) => request.approverGroups.includes(group))) {
    return { refused: `${voter.subject} is not in an approver group (${request.approverGroups.join(", ")})` };
  }
  if (state.approvedBy.includes(voter.subject) || state.deniedBy.includes(voter.subject)) {
    return { refused: `${voter.subject} has voted already` };
  }
  const cast: ApprovalEvent = {
    type: "ApprovalVoteCast",
    data: {
      approvalId: request.approvalId,
      voter,
      vote: command.vote,
      ...(command.comment ? { comment: command.comment } : {}),
    },
  };
  if (command.vote === "deny") {
    const deniedBy = [...state.deniedBy, voter.subject];
    // Without anyDenyEnds, a request ends denied once the remaining approvers can no longer reach the quorum — not knowable here, so it waits for expiry.
    if (!request.anyDenyEnds) return { events: [cast] };
    const reason = command.comment ?? `denied by ${voter.subject}`;
    return {
      events: [cast, { type: "ApprovalDenied", data: { approvalId: request.approvalId, deniedBy, reason } }],
    };
  }
  const approvedBy = [...state.approvedBy, voter.subject];
  if (approvedBy.length < request.quorum) return { events: [cast] };
  return {
    events: [
      cast,
      { type: "ApprovalGranted", data: { approvalId: request.approvalId, approvers: approvedBy } },
    ],
  };
}

export function evolveApproval(state: ApprovalState, event: ApprovalEvent): ApprovalState {
  if (event.type === "ApprovalRequested")
    return { status: "pending", request: event.data, approvedBy: [], deniedBy: [] };
  if (state.status === "none") return state;
  switch (event.type) {
    case "ApprovalVoteCast": {
      const who = event.data.voter.subject;
      return event.data.vote === "approve"
        ? { ...state, approvedBy: [...state.approvedBy, who] }
        : { ...state, deniedBy: [...state.deniedBy, who] };
    }
    case "ApprovalGranted":
      return { ...state, status: "granted" };
    case "ApprovalDenied":
      return { ...state, status: "denied" };
    case "ApprovalExpired":
      return { ...state, status: "expired" };
    case "ApprovalCancelled":
      return { ...state, status: "cancelled" };
  }
}
