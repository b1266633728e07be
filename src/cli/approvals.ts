import {
  type ApprovalEvent,
  type ApprovalState,
  evolveApproval,
  initialApprovalState,
} from "../domain/approval.ts";
import { SluiceError } from "../errors.ts";
import { streamCategory } from "../events/index.ts";
import type { EventStore } from "../eventstore/port.ts";
import { ApprovalService } from "../gate/approvals.ts";
import { InProcessScheduler } from "../jobs/in-process.ts";
import { asCaller } from "./caller.ts";

/**
 * `sluice approvals list | approve | deny`, as the approver named by the OIDC token. Until the
 * approval-queue read model lands, list folds the approval streams from the log.
 */

type Options = { config?: string; token: string };

export async function approvalsListCommand(options: Options & { all?: boolean }): Promise<number> {
  return asCaller(options, async ({ caller, store }) => {
    const now = Date.now();
    const pending = [...(await foldApprovals(store)).values()].filter(
      (s): s is Exclude<ApprovalState, { status: "none" }> => s.status === "pending",
    );
    const mine = pending.filter(
      (s) => options.all || s.request.approverGroups.some((group) => caller.groups.includes(group)),
    );
    if (mine.length === 0) {
      process.stdout.write("no pending approvals\n");
      return 0;
    }
    for (const { request, approvedBy } of mine) {
      const expiresIn = Math.round((Date.parse(request.expiresAt) - now) / 1000);
      process.stdout.write(
        `${request.approvalId}  ${request.requester.subject} on ${request.target}  rule ${request.rule}  ` +
          `${approvedBy.length}/${request.quorum} approvals  expires in ${expiresIn}s\n    ${request.command}\n`,
      );
    }
    return 0;
  });
}

export async function approvalsVoteCommand(
  vote: "approve" | "deny",
  options: Options & { id: string; comment?: string; reason?: string },
): Promise<number> {
  if (vote === "deny" && !options.reason) throw new SluiceError("CONFIG_INVALID", "deny needs --reason");
  return asCaller(options, async ({ config, caller, store }) => {
    const approvals = new ApprovalService({
      store,
      scheduler: new InProcessScheduler(),
      gatewayInstance: config.instanceId,
    });
    const voter = {
      subject: caller.subject,
      issuer: caller.issuer,
      groups: caller.groups,
      kind: "human" as const,
    };
    const state = await approvals.vote(
      options.id,
      voter,
      vote,
      vote === "deny" ? options.reason : options.comment,
    );
    process.stdout.write(
      `approval ${options.id}: ${vote === "approve" ? "approved" : "denied"} by ${caller.subject}; now ${state.status}\n`,
    );
    return 0;
  });
}

async function foldApprovals(store: EventStore): Promise<Map<string, ApprovalState>> {
  const approvals = new Map<string, ApprovalState>();
  for await (const event of store.readAll()) {
    if (streamCategory(event.stream) !== "approval") continue;
    approvals.set(
      event.stream,
      evolveApproval(approvals.get(event.stream) ?? initialApprovalState, event as ApprovalEvent),
    );
  }
  return approvals;
}
