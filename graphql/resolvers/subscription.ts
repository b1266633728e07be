import { Repeater } from "graphql-yoga";
import { sessionStream, streamCategory } from "../../src/events/index.ts";
import type { RecordedEvent } from "../../src/eventstore/port.ts";
import type { GraphqlContext } from "../context.ts";
import { forbidden } from "../errors.ts";
import { timelineEntry } from "./types.ts";
import { canSeeApproval, canSeeSession } from "./visibility.ts";

/**
 * Live feeds over SSE, driven by the projection runner: an event is pushed once its batch is
 * committed, so what a subscriber receives is already what queries return. A subscription
 * ends when the caller's token expires.
 */

const CHANGES: Record<string, string> = {
  ApprovalRequested: "REQUESTED",
  ApprovalVoteCast: "VOTED",
  ApprovalGranted: "GRANTED",
  ApprovalDenied: "DENIED",
  ApprovalExpired: "EXPIRED",
  ApprovalCancelled: "CANCELLED",
};

/**
 * Listens from the moment of subscribing (events before the client starts reading are kept
 * for it), pushes until the client goes away or the token expires.
 */
function feed<T>(ctx: GraphqlContext, listen: (push: (value: T) => void) => () => void): Repeater<T> {
  const early: T[] = [];
  let deliver: ((value: T) => void) | null = null;
  const listening = listen((value) => (deliver ? deliver(value) : early.push(value)));
  let end = () => {
    clearTimeout(unread);
    ctx.live.delete(end);
    listening();
  };
  // A subscription nobody starts reading must not listen forever; shutdown ends them all.
  const unread = setTimeout(() => end(), 60_000);
  unread.unref();
  ctx.live.add(end);
  return new Repeater<T>(async (push, stop) => {
    clearTimeout(unread);
    for (const value of early.splice(0)) void push(value);
    deliver = (value) => void push(value);
    const stopListening = end;
    end = () => stop();
    ctx.live.delete(stopListening);
    ctx.live.add(end);
    const expiry = setTimeout(() => stop(), Math.max(0, ctx.viewer.expiresAt.getTime() - Date.now()));
    expiry.unref();
    await stop;
    clearTimeout(expiry);
    ctx.live.delete(end);
    listening();
  });
}

export const subscriptionResolvers = {
  approvalQueue: {
    subscribe: (_: unknown, __: unknown, ctx: GraphqlContext) => {
      ctx.viewer.require(["auditor", "approver"], "the approval queue");
      return feed(ctx, (push) =>
        ctx.deps.runner.onCommit((events) => {
          for (const event of events) {
            const change = CHANGES[event.type];
            if (!change) continue;
            const approval = ctx.reads.approvals.get((event.data as { approvalId: string }).approvalId);
            if (approval && canSeeApproval(ctx.viewer, approval))
              push({ approvalQueue: { change, approval } });
          }
        }),
      );
    },
  },

  sessionEvents: {
    subscribe: (_: unknown, args: { sessionId: string }, ctx: GraphqlContext) => {
      ctx.viewer.require(["auditor", "approver"], "sessions");
      if (!canSeeSession(ctx, args.sessionId))
        throw forbidden("an approver sees only sessions that asked it for approval");
      const stream = sessionStream(args.sessionId);
      const concerns = (event: RecordedEvent) =>
        event.stream === stream || streamCategory(event.stream) === "approval";
      return feed(ctx, (push) => {
        // From what is projected now: earlier events are in Session.timeline.
        let after = Number(ctx.deps.runner.position("sessions"));
        return ctx.deps.runner.onCommit((events) => {
          if (!events.some(concerns)) return;
          for (const row of ctx.reads.sessions.timeline(args.sessionId, after, 1000)) {
            after = row.position;
            push({ sessionEvents: timelineEntry(row) });
          }
        });
      });
    },
  },
};
