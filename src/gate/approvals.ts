import {
  type ApprovalCommand,
  type ApprovalEvent,
  type ApprovalState,
  decideApproval,
  evolveApproval,
  initialApprovalState,
} from "../domain/approval.ts";
import { SluiceError } from "../errors.ts";
import { approvalStream, type EventData, type IdentityRef, makeMetadata, newEvent } from "../events/index.ts";
import { WrongExpectedRevisionError } from "../eventstore/conflict.ts";
import { foldStream } from "../eventstore/fold.ts";
import type { EventStore } from "../eventstore/port.ts";
import type { Scheduler } from "../jobs/scheduler.ts";
import type { Logger } from "../log.ts";

/**
 * Approvals against the log: open a request, vote, expire, cancel, and await the outcome.
 * Every change goes through the decider and is appended at the revision it was decided on;
 * a lost race is decided again on the new state. Outcomes are awaited through a stream
 * subscription, so a vote cast through any gateway instance releases the held command.
 */

export const APPROVAL_EXPIRY_JOB = "approval-expiry";
const MAX_RACES = 5;

export type ApprovalOutcome =
  | { status: "granted"; approvers: string[] }
  | { status: "denied" | "expired" | "cancelled"; reason: string };

export class ApprovalService {
  constructor(
    private readonly options: {
      store: EventStore;
      scheduler: Scheduler;
      gatewayInstance: string;
      now?: () => Date;
      /** Tells approvers (webhooks); a failure to tell them never fails the request itself. */
      onRequested?: (request: EventData<"ApprovalRequested">) => Promise<void>;
      log?: Logger;
    },
  ) {
    options.scheduler.handle(APPROVAL_EXPIRY_JOB, async (job) => {
      await this.handle(job.id, () => ({ type: "expire", now: this.now() }), "sluice");
    });
  }

  async request(request: EventData<"ApprovalRequested">): Promise<void> {
    await this.handle(request.approvalId, () => ({ type: "request", request }), request.requester.subject);
    await this.options.scheduler.schedule(
      APPROVAL_EXPIRY_JOB,
      request.approvalId,
      new Date(request.expiresAt),
    );
    await this.options.onRequested?.(request).catch((error: unknown) => {
      this.options.log?.error(
        { err: error, approvalId: request.approvalId },
        "approvers could not be notified",
      );
    });
  }

  async vote(
    approvalId: string,
    voter: IdentityRef,
    vote: "approve" | "deny",
    comment?: string,
  ): Promise<ApprovalState> {
    return this.handle(
      approvalId,
      () => ({ type: "vote", voter, vote, comment, now: this.now() }),
      voter.subject,
    );
  }

  async autoApprove(approvalId: string, rule: string): Promise<ApprovalState> {
    return this.handle(approvalId, () => ({ type: "autoApprove", rule, now: this.now() }), `policy:${rule}`);
  }

  async cancel(approvalId: string, reason: string): Promise<ApprovalState> {
    return this.handle(approvalId, () => ({ type: "cancel", reason }), "sluice");
  }

  async state(approvalId: string): Promise<ApprovalState> {
    return (await this.load(approvalId)).state;
  }

  /** Resolves at the request's terminal event, wherever it was appended; `signal` stops waiting. */
  async outcome(approvalId: string, signal?: AbortSignal): Promise<ApprovalOutcome> {
    const subscription = this.options.store.subscribeStream(approvalStream(approvalId));
    const abort = () => void subscription.close();
    signal?.addEventListener("abort", abort, { once: true });
    try {
      for await (const event of subscription) {
        switch (event.type) {
          case "ApprovalGranted":
            return { status: "granted", approvers: event.data.approvers };
          case "ApprovalDenied":
            return { status: "denied", reason: event.data.reason };
          case "ApprovalExpired":
            return { status: "expired", reason: "the approval request expired" };
          case "ApprovalCancelled":
            return { status: "cancelled", reason: event.data.reason };
        }
      }
      throw new SluiceError("INTERNAL", `stopped waiting for approval ${approvalId}`);
    } finally {
      signal?.removeEventListener("abort", abort);
      await subscription.close();
    }
  }

  private async handle(
    approvalId: string,
    command: () => ApprovalCommand,
    actor: string,
  ): Promise<ApprovalState> {
    for (let race = 0; ; race++) {
      const { state, revision } = await this.load(approvalId);
      const decided = decideApproval(state, command());
      if ("refused" in decided) throw new SluiceError("FORBIDDEN", decided.refused, { approvalId });
      if (decided.events.length === 0) return state;
      const events = decided.events.map((e) =>
        newEvent(
          e.type,
          e.data as never,
          makeMetadata({ gatewayInstance: this.options.gatewayInstance, actor }),
        ),
      );
      try {
        await this.options.store.append(approvalStream(approvalId), events, { expectedRevision: revision });
        return decided.events.reduce(evolveApproval, state);
      } catch (error) {
        // Someone else appended first: decide again on what they left.
        if (!(error instanceof WrongExpectedRevisionError) || race >= MAX_RACES) throw error;
      }
    }
  }

  private load(approvalId: string) {
    return foldStream(this.options.store, approvalStream(approvalId), initialApprovalState, (state, event) =>
      evolveApproval(state, event as ApprovalEvent),
    );
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }
}
