import type { ApprovalRow } from "../../projections/approvals.ts";
import type { CredentialRow } from "../../projections/credentials.ts";
import type { TaskRow } from "../../projections/tasks.ts";
import type { Viewer } from "../auth.ts";
import type { GraphqlContext } from "../context.ts";
import { forbidden } from "../errors.ts";

/**
 * Who may see what. AUDITOR: everything. APPROVER: approvals its groups may vote on, and the
 * sessions that asked for them. ADMIN: tasks and credentials. AGENT: its own tasks and credentials.
 */

export function canSeeApproval(viewer: Viewer, approval: Pick<ApprovalRow, "approverGroups">): boolean {
  return viewer.has("auditor") || (viewer.has("approver") && viewer.inAnyGroup(approval.approverGroups));
}

export function canSeeSession(ctx: GraphqlContext, sessionId: string): boolean {
  if (ctx.viewer.has("auditor")) return true;
  if (!ctx.viewer.has("approver")) return false;
  return ctx.reads.approvals
    .list({ sessionId, groups: [...ctx.viewer.groups], limit: 1 })
    .some((approval) => canSeeApproval(ctx.viewer, approval));
}

export function canSeeTask(viewer: Viewer, task: Pick<TaskRow, "agent">): boolean {
  return (
    viewer.has("auditor") || viewer.has("admin") || (viewer.has("agent") && task.agent === viewer.subject)
  );
}

export function canSeeCredential(viewer: Viewer, credential: Pick<CredentialRow, "subject">): boolean {
  return (
    viewer.has("auditor") ||
    viewer.has("admin") ||
    (viewer.has("agent") && credential.subject === viewer.subject)
  );
}

/** For lists: an agent (without a wider role) only ever lists its own; asking for another's is FORBIDDEN. */
export function ownOnly(viewer: Viewer, asked: string | null | undefined, what: string): string | undefined {
  viewer.require(["auditor", "admin", "agent"], what);
  if (viewer.has("auditor") || viewer.has("admin")) return asked ?? undefined;
  if (asked && asked !== viewer.subject) throw forbidden(`an agent sees only its own ${what}`);
  return viewer.subject;
}
