import type { ApprovalStatus } from "../../projections/approvals.ts";
import type { CredentialRow } from "../../projections/credentials.ts";
import { GENESIS } from "../../src/eventstore/chain.ts";
import { verifyLedger } from "../../src/eventstore/verify.ts";
import type { GraphqlContext } from "../context.ts";
import { badInput, forbidden } from "../errors.ts";
import { connection, decodeCursor, numberKeyedPage, pageSize } from "../pagination.ts";
import { commandConnection } from "./types.ts";
import { canSeeApproval, canSeeCredential, canSeeSession, canSeeTask, ownOnly } from "./visibility.ts";

type Args = Record<string, unknown>;
type Filter = Record<string, string | boolean | undefined | null>;

const str = (value: unknown) => (typeof value === "string" ? value : undefined);
const ms = (value: unknown) => (typeof value === "string" ? Date.parse(value) : undefined);

/** One ledger verification at a time per store: it walks the whole log. */
const verifying = new WeakMap<object, ReturnType<typeof verifyLedger>>();

export const queryResolvers = {
  viewer: (_: unknown, __: Args, ctx: GraphqlContext) => ctx.viewer,

  policy: (_: unknown, __: Args, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor", "admin", "approver"], "the policy");
    return ctx.reads.policy.currentVersion();
  },
  policyVersion: (_: unknown, args: { version: number }, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor", "admin", "approver"], "the policy");
    return ctx.reads.policy.version(args.version);
  },
  policyVersions: (_: unknown, args: Args, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor", "admin", "approver"], "the policy");
    return numberKeyedPage(
      args,
      (after, limit) => ctx.reads.policy.history(after ?? Number.MAX_SAFE_INTEGER, limit),
      (row) => row.version,
      20,
    );
  },
  targets: (_: unknown, __: Args, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor", "admin"], "targets");
    return (ctx.deps.policy()?.document.targets ?? []).map((t) => ({
      name: t.name,
      protocol: t.protocol,
      address: t.address,
      labels: t.labels,
    }));
  },

  approvalQueue: (_: unknown, args: Args, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor", "approver"], "the approval queue");
    return numberKeyedPage(
      args,
      (after, limit) =>
        ctx.reads.approvals.list({
          status: "pending",
          groups: ctx.viewer.has("auditor") ? undefined : [...ctx.viewer.groups],
          afterSeq: after,
          oldestFirst: true,
          limit,
        }),
      (row) => row.seq,
    );
  },
  approvals: (_: unknown, args: Args, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor", "approver"], "approvals");
    const filter = (args.filter ?? {}) as Filter;
    return numberKeyedPage(
      args,
      (after, limit) =>
        ctx.reads.approvals.list({
          status: str(filter.status) as ApprovalStatus | undefined,
          target: str(filter.target),
          requester: str(filter.requester),
          sessionId: str(filter.sessionId),
          groups: ctx.viewer.has("auditor") ? undefined : [...ctx.viewer.groups],
          beforeSeq: after,
          limit,
        }),
      (row) => row.seq,
    );
  },
  approval: (_: unknown, args: { id: string }, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor", "approver"], "approvals");
    const row = ctx.reads.approvals.get(args.id);
    if (row && !canSeeApproval(ctx.viewer, row)) throw forbidden("this approval is not for your groups");
    return row;
  },

  session: (_: unknown, args: { id: string }, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor", "approver"], "sessions");
    if (!canSeeSession(ctx, args.id))
      throw forbidden("an approver sees only sessions that asked it for approval");
    return ctx.reads.sessions.get(args.id);
  },
  sessions: (_: unknown, args: Args, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor"], "sessions");
    const filter = (args.filter ?? {}) as Filter;
    return numberKeyedPage(
      args,
      (after, limit) =>
        ctx.reads.sessions.list({
          subject: str(filter.agent),
          target: str(filter.target),
          taskId: str(filter.taskId),
          credentialId: str(filter.credentialId),
          from: str(filter.from) && new Date(ms(filter.from) as number).toISOString(),
          to: str(filter.to) && new Date(ms(filter.to) as number).toISOString(),
          beforeSeq: after,
          limit,
        }),
      (row) => row.seq,
    );
  },

  task: (_: unknown, args: { id: string }, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor", "admin", "agent"], "tasks");
    const row = ctx.reads.tasks.get(args.id);
    if (row && !canSeeTask(ctx.viewer, row)) throw forbidden("an agent sees only its own tasks");
    return row;
  },
  tasks: (_: unknown, args: Args, ctx: GraphqlContext) => {
    const filter = (args.filter ?? {}) as Filter;
    const agent = ownOnly(ctx.viewer, str(filter.agent), "tasks");
    return numberKeyedPage(
      args,
      (after, limit) =>
        ctx.reads.tasks.list({
          agent,
          rootsOnly: filter.rootsOnly === true,
          parentTaskId: str(filter.parentId),
          beforeSeq: after,
          limit,
        }),
      (row) => row.seq,
    );
  },

  credential: (_: unknown, args: { id: string }, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor", "admin", "agent"], "credentials");
    const row = ctx.reads.credentials.get(args.id);
    if (row && !canSeeCredential(ctx.viewer, row)) throw forbidden("an agent sees only its own credentials");
    return row;
  },
  credentials: (_: unknown, args: Args, ctx: GraphqlContext) => {
    const filter = (args.filter ?? {}) as Filter;
    const subject = ownOnly(ctx.viewer, str(filter.agent), "credentials");
    return numberKeyedPage(
      args,
      (after, limit) =>
        ctx.reads.credentials.list({
          subject,
          target: str(filter.target),
          taskId: str(filter.taskId),
          status: str(filter.status) as CredentialRow["status"] | undefined,
          beforeSeq: after,
          limit,
        }),
      (row) => row.seq,
    );
  },

  auditSearch: (_: unknown, args: Args, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor"], "the audit trail");
    const f = (args.filter ?? {}) as Filter;
    const fromMs = ms(f.from);
    const toMs = ms(f.to);
    if (fromMs !== undefined && toMs !== undefined && fromMs > toMs) throw badInput("from is after to");
    return commandConnection(
      ctx,
      {
        subject: str(f.agent),
        target: str(f.target),
        taskId: str(f.taskId),
        decision: str(f.decision) as "allow" | undefined,
        rule: str(f.rule),
        kind: str(f.kind),
        relation: str(f.relation),
        fromMs,
        toMs,
        text: str(f.text),
      },
      args,
    );
  },

  events: async (
    _: unknown,
    args: { stream: string; after?: string; first?: number },
    ctx: GraphqlContext,
  ) => {
    ctx.viewer.require(["auditor"], "raw events");
    const size = pageSize(args.first, 100);
    const after = decodeCursor(args.after, ["string"]);
    if (after && !/^\d{1,19}$/.test(after[0] as string)) throw badInput("invalid cursor");
    const from = after ? BigInt(after[0] as string) + 1n : 0n;
    // One event before the page as well: its hash is what the first one chains to.
    const rows = [];
    let prevHash = GENESIS;
    for await (const event of ctx.deps.store.readStream(args.stream, {
      fromRevision: from > 0n ? from - 1n : 0n,
      maxCount: size + (from > 0n ? 2 : 1),
    })) {
      if (event.revision < from) {
        prevHash = event.hash;
        continue;
      }
      rows.push({
        stream: event.stream,
        revision: String(event.revision),
        position: String(event.position),
        type: event.type,
        data: event.data,
        metadata: event.metadata,
        hash: event.hash,
        prevHash,
      });
      prevHash = event.hash;
    }
    return connection(
      rows,
      size,
      (row) => [row.revision],
      (row) => row,
    );
  },

  verifyLedger: async (_: unknown, __: Args, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor"], "ledger verification");
    const { store } = ctx.deps;
    let running = verifying.get(store);
    if (!running) {
      running = verifyLedger(store, ctx.deps.sealKey).finally(() => verifying.delete(store));
      verifying.set(store, running);
    }
    const report = await running;
    return {
      ...report,
      broken: report.broken
        ? {
            stream: report.broken.stream,
            revision: String(report.broken.revision),
            position: String(report.broken.position),
            reason: report.broken.reason,
          }
        : null,
    };
  },

  projections: async (_: unknown, __: Args, ctx: GraphqlContext) => {
    ctx.viewer.require(["auditor", "admin"], "projection status");
    return (await ctx.deps.runner.status()).map((s) => ({
      ...s,
      position: String(s.position),
      head: String(s.head),
      lag: String(s.lag),
    }));
  },
};
