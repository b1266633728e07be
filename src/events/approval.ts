import { z } from "zod";
import { classification, id, identityRef, isoTime } from "./common.ts";

/** Stream `approval-<id>`: one just-in-time approval request and its votes. */
export const approvalEvents = {
  ApprovalRequested: z.object({
    approvalId: id,
    requester: identityRef,
    sessionId: id.optional(),
    taskId: id.optional(),
    target: z.string(),
    command: z.string(),
    classification,
    rule: z.string(),
    policyVersion: z.number().int().nonnegative(),
    approverGroups: z.array(z.string()).min(1),
    quorum: z.number().int().positive(),
    /** A single deny ends the request (default); otherwise denials only block the quorum. */
    anyDenyEnds: z.boolean().default(true),
    expiresAt: isoTime,
  }),
  ApprovalVoteCast: z.object({
    approvalId: id,
    voter: identityRef,
    vote: z.enum(["approve", "deny"]),
    comment: z.string().optional(),
    rule: z.string().optional(),
  }),
  ApprovalGranted: z.object({ approvalId: id, approvers: z.array(z.string()).min(1) }),
  ApprovalDenied: z.object({ approvalId: id, deniedBy: z.array(z.string()), reason: z.string() }),
  ApprovalExpired: z.object({ approvalId: id }),
  ApprovalCancelled: z.object({ approvalId: id, reason: z.string() }),
};
