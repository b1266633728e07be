import type { ApprovalRow } from "../../projections/approvals.ts";
import type { AuditQuery, CommandRow } from "../../projections/audit-search.ts";
import type { CredentialRow } from "../../projections/credentials.ts";
import type { PolicyVersionRow } from "../../projections/policy.ts";
import type { SessionRow, TimelineRow } from "../../projections/sessions.ts";
import type { TaskRow } from "../../projections/tasks.ts";
import type { GraphqlContext } from "../context.ts";
import { connection, decodeCursor, pageSize } from "../pagination.ts";
import { DateTime, JSONScalar } from "./scalars.ts";
import { canSeeApproval, canSeeCredential, canSeeSession, canSeeTask } from "./visibility.ts";

/** Object types: how read-model rows become GraphQL objects, and the fields that reach further. */

type Args = Record<string, unknown>;

export function timelineEntry(row: TimelineRow) {
  return {
    position: String(row.position),
    type: row.type,
    at: row.at,
    sessionId: row.sessionId,
    commandId: row.commandId,
    data: row.data,
  };
}

export function timelineConnection(ctx: GraphqlContext, sessionId: string, args: Args) {
  const size = pageSize(args.first as number | undefined, 100);
  const after = decodeCursor(args.after as string | undefined, ["number"]);
  const rows = ctx.reads.sessions.timeline(sessionId, (after?.[0] as number) ?? 0, size + 1);
  return connection(rows, size, (row) => [row.position], timelineEntry);
}

export function commandConnection(
  ctx: GraphqlContext,
  query: Omit<AuditQuery, "before" | "limit">,
  args: Args,
) {
  const size = pageSize(args.first as number | undefined);
  const after = decodeCursor(args.after as string | undefined, ["number", "number"]);
  const rows = ctx.reads.audit.search({
    ...query,
    ...(after ? { before: { atMs: after[0] as number, position: after[1] as number } } : {}),
    limit: size + 1,
  });
  return connection(
    rows,
    size,
    (row) => [row.atMs, row.position],
    (row) => row,
  );
}

export const typeResolvers = {
  DateTime,
  JSON: JSONScalar,
  Decision: { ALLOW: "allow", DENY: "deny", REQUIRE_APPROVAL: "require_approval" },
  ApprovalStatus: {
    PENDING: "pending",
    GRANTED: "granted",
    DENIED: "denied",
    EXPIRED: "expired",
    CANCELLED: "cancelled",
  },
  CredentialStatus: { ACTIVE: "active", REVOKED: "revoked", EXPIRED: "expired" },
  VoteKind: { APPROVE: "approve", DENY: "deny" },
  Role: { AUDITOR: "auditor", APPROVER: "approver", ADMIN: "admin", AGENT: "agent" },

  Viewer: {
    roles: (viewer: GraphqlContext["viewer"]) => [...viewer.roles],
  },

  PolicyVersion: {
    decisions: (row: PolicyVersionRow, _: Args, ctx: GraphqlContext) =>
      ctx.reads.policy.ruleDecisions(row.version),
  },

  Approval: {
    id: (row: ApprovalRow) => row.approvalId,
    approvals: (row: ApprovalRow) => row.approved,
    denials: (row: ApprovalRow) => row.denied,
    ageSeconds: (row: ApprovalRow) => (Date.now() - Date.parse(row.requestedAt)) / 1000,
    expiresInSeconds: (row: ApprovalRow) => (Date.parse(row.expiresAt) - Date.now()) / 1000,
    votes: (row: ApprovalRow, _: Args, ctx: GraphqlContext) => ctx.reads.approvals.votes(row.approvalId),
    canVote: (row: ApprovalRow, _: Args, ctx: GraphqlContext) => {
      const { viewer } = ctx;
      if (row.status !== "pending" || !viewer.has("approver") || !viewer.inAnyGroup(row.approverGroups))
        return false;
      if (row.requester === viewer.subject || Date.parse(row.expiresAt) <= Date.now()) return false;
      return !ctx.reads.approvals.votes(row.approvalId).some((vote) => vote.voter === viewer.subject);
    },
    session: (row: ApprovalRow, _: Args, ctx: GraphqlContext) =>
      row.sessionId && canSeeSession(ctx, row.sessionId) ? ctx.reads.sessions.get(row.sessionId) : null,
  },

  Session: {
    id: (row: SessionRow) => row.sessionId,
    commandCount: (row: SessionRow) => row.commands,
    deniedCount: (row: SessionRow) => row.denied,
    heldCount: (row: SessionRow) => row.held,
    timeline: (row: SessionRow, args: Args, ctx: GraphqlContext) =>
      timelineConnection(ctx, row.sessionId, args),
  },

  Task: {
    id: (row: TaskRow) => row.taskId,
    parentId: (row: TaskRow) => row.parentTaskId,
    parent: (row: TaskRow, _: Args, ctx: GraphqlContext) => {
      const parent = row.parentTaskId ? ctx.reads.tasks.get(row.parentTaskId) : null;
      return parent && canSeeTask(ctx.viewer, parent) ? parent : null;
    },
    subTasks: (row: TaskRow, _: Args, ctx: GraphqlContext) =>
      ctx.reads.tasks
        .list({ parentTaskId: row.taskId, limit: 1000 })
        .filter((task) => canSeeTask(ctx.viewer, task))
        .reverse(),
    credentials: (row: TaskRow, _: Args, ctx: GraphqlContext) =>
      ctx.reads.credentials
        .list({ taskId: row.taskId, limit: 1000 })
        .filter((credential) => canSeeCredential(ctx.viewer, credential)),
    sessions: (row: TaskRow, _: Args, ctx: GraphqlContext) => {
      ctx.viewer.require(["auditor"], "a task's sessions");
      return ctx.reads.sessions.list({ taskId: row.taskId, limit: 1000 });
    },
    commands: (row: TaskRow, args: Args, ctx: GraphqlContext) => {
      ctx.viewer.require(["auditor"], "a task's commands");
      return commandConnection(ctx, { taskId: row.taskId }, args);
    },
  },

  Credential: {
    id: (row: CredentialRow) => row.credentialId,
    task: (row: CredentialRow, _: Args, ctx: GraphqlContext) => {
      const task = ctx.reads.tasks.get(row.taskId);
      return task && canSeeTask(ctx.viewer, task) ? task : null;
    },
  },

  Command: {
    id: (row: CommandRow) => row.commandId,
    at: (row: CommandRow) => new Date(row.atMs).toISOString(),
    agent: (row: CommandRow) => row.subject,
    approval: (row: CommandRow, _: Args, ctx: GraphqlContext) => {
      const approval = row.approvalId ? ctx.reads.approvals.get(row.approvalId) : null;
      return approval && canSeeApproval(ctx.viewer, approval) ? approval : null;
    },
    events: (row: CommandRow, _: Args, ctx: GraphqlContext) =>
      ctx.reads.sessions.commandEvents(row.sessionId, row.commandId).map(timelineEntry),
  },
};
