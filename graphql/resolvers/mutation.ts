import type { CredentialRow } from "../../projections/credentials.ts";
import { type AccessLevel, accessLevels, parseDuration } from "../../src/domain/policy/document.ts";
import { applyPolicy } from "../../src/gate/policy-versions.ts";
import type { GraphqlContext } from "../context.ts";
import { apiError, badInput, forbidden } from "../errors.ts";
import { canSeeTask } from "./visibility.ts";

/**
 * Mutations go through the services the CLI uses (approval decider, policy publishing,
 * credential issuance), then wait for the read models to show what they appended.
 */

const MAX_POLICY_BYTES = 1_000_000;

export const mutationResolvers = {
  approve: async (_: unknown, args: { approvalId: string; comment?: string }, ctx: GraphqlContext) => {
    return vote(ctx, args.approvalId, "approve", args.comment);
  },
  deny: async (_: unknown, args: { approvalId: string; reason: string }, ctx: GraphqlContext) => {
    if (args.reason.trim() === "") throw badInput("a denial needs a reason (the agent is told)");
    return vote(ctx, args.approvalId, "deny", args.reason);
  },

  publishPolicy: async (
    _: unknown,
    args: { files: { name: string; yaml: string }[] },
    ctx: GraphqlContext,
  ) => {
    ctx.viewer.require(["admin"], "publishing policy");
    const size = args.files.reduce((sum, f) => sum + f.yaml.length, 0);
    if (size > MAX_POLICY_BYTES) throw badInput(`policy files are limited to ${MAX_POLICY_BYTES} bytes`);
    const result = await applyPolicy(
      ctx.deps.store,
      args.files.map((f) => ({ file: f.name, text: f.yaml })),
      ctx.viewer.identity("human"),
      ctx.deps.gatewayInstance,
    );
    await ctx.settle();
    return { ...result, policy: ctx.reads.policy.version(result.version) };
  },

  issueCredential: async (
    _: unknown,
    args: {
      input: {
        target: string;
        access: string;
        taskId: string;
        ttl?: string;
        reason?: string;
        approvalId?: string;
      };
    },
    ctx: GraphqlContext,
  ) => {
    ctx.viewer.require(["agent", "admin"], "issuing credentials");
    const { input } = args;
    if (!accessLevels.includes(input.access as AccessLevel)) {
      throw badInput(`access must be ${accessLevels.join(", ")}`);
    }
    let ttlMs: number;
    try {
      ttlMs = parseDuration(input.ttl ?? "15m");
    } catch {
      throw badInput("ttl must be a duration like 90s, 15m or 1h");
    }
    const task = ctx.reads.tasks.get(input.taskId);
    if (task && !canSeeTask(ctx.viewer, task))
      throw forbidden("an agent issues credentials only for its own tasks");
    const issued = await ctx.deps.credentials.issue({
      identity: { subject: ctx.viewer.subject, groups: [...ctx.viewer.groups] },
      target: input.target,
      access: input.access as AccessLevel,
      taskId: input.taskId,
      ttlMs,
      reason: input.reason,
      ...(input.approvalId ? { approvalId: input.approvalId } : {}),
    });
    await ctx.settle();
    const credential: CredentialRow = ctx.reads.credentials.get(issued.credentialId) ?? {
      // The read model is behind (the wait is bounded): what the issuance itself knows.
      credentialId: issued.credentialId,
      seq: 0,
      subject: ctx.viewer.subject,
      target: input.target,
      access: input.access,
      taskId: input.taskId,
      reason: input.reason ?? null,
      issuedAt: new Date().toISOString(),
      expiresAt: issued.expiresAt.toISOString(),
      status: "active",
      endedAt: null,
      revokedBy: null,
      revokeReason: null,
      uses: 0,
      lastUsedAt: null,
      upstreamMode: null,
      upstreamRole: null,
      roleDropped: null,
    };
    return { token: issued.token, credential };
  },

  revokeCredential: async (
    _: unknown,
    args: { credentialId: string; reason: string },
    ctx: GraphqlContext,
  ) => {
    ctx.viewer.require(["admin", "agent"], "revoking credentials");
    if (!ctx.viewer.has("admin")) {
      const state = await ctx.deps.credentials.state(args.credentialId);
      if (state.status !== "none" && state.subject !== ctx.viewer.subject) {
        throw forbidden("an agent revokes only its own credentials");
      }
    }
    await ctx.deps.credentials.revoke(args.credentialId, ctx.viewer.identity("human"), args.reason);
    await ctx.settle();
    const row = ctx.reads.credentials.get(args.credentialId);
    if (!row) throw apiError("NOT_FOUND", `credential ${args.credentialId} does not exist`);
    return row;
  },

  declareTask: async (
    _: unknown,
    args: { input: { id?: string; parentId?: string; intent: string } },
    ctx: GraphqlContext,
  ) => {
    ctx.viewer.require(["agent", "admin"], "declaring tasks");
    const { input } = args;
    if (input.parentId) {
      const parent = ctx.reads.tasks.get(input.parentId);
      if (parent && !canSeeTask(ctx.viewer, parent)) {
        throw forbidden("an agent declares sub-tasks only of its own tasks");
      }
    }
    const taskId = await ctx.deps.credentials.declareTask({
      taskId: input.id,
      parentTaskId: input.parentId,
      intent: input.intent,
      agent: ctx.viewer.identity(ctx.viewer.has("agent") ? "agent" : "human"),
    });
    await ctx.settle();
    const row = ctx.reads.tasks.get(taskId);
    if (!row)
      throw apiError("INTERNAL_SERVER_ERROR", "the task is recorded but not yet readable; query it again");
    return row;
  },
};

async function vote(ctx: GraphqlContext, approvalId: string, vote: "approve" | "deny", comment?: string) {
  ctx.viewer.require(["approver"], "voting on approvals");
  if ((await ctx.deps.approvals.state(approvalId)).status === "none") {
    throw apiError("NOT_FOUND", `approval ${approvalId} does not exist`);
  }
  // The decider checks the approver groups, the requester, expiry and double votes (FORBIDDEN with its reason).
  await ctx.deps.approvals.vote(approvalId, ctx.viewer.identity("human"), vote, comment);
  await ctx.settle();
  const row = ctx.reads.approvals.get(approvalId);
  if (!row)
    throw apiError("INTERNAL_SERVER_ERROR", "the vote is recorded but not yet readable; query it again");
  return row;
}
