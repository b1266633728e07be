import { parseDuration, policyDocument } from "../domain/policy/document.ts";
import { isSluiceError, SluiceError } from "../errors.ts";
import type { ApprovalService } from "../gate/approvals.ts";
import type { CredentialService } from "../gate/credentials.ts";
import { readPolicyState } from "../gate/policy-versions.ts";
import { buildGateServices } from "../gate/services.ts";
import { loadOrCreateSigningKey } from "../identity/signing-key.ts";
import { openScheduler } from "../jobs/open.ts";
import { createLogger } from "../log.ts";
import { accessHint, type ProxyPorts, proxyPorts } from "./access-hint.ts";
import { asCaller } from "./caller.ts";

/**
 * `sluice credential issue` and `revoke`: the caller proves who it is with an OIDC token;
 * the credential goes to stdout once and only its id and hash go to the log.
 */

type Options = { config?: string; token: string };

async function withCredentials<T>(options: Options, use: (ctx: Context) => Promise<T>): Promise<T> {
  return asCaller(options, async ({ config, caller, store }) => {
    const log = createLogger("silent", config.instanceId);
    const scheduler = await openScheduler(config, log);
    try {
      const { state } = await readPolicyState(store);
      const document = state.source ? policyDocument.parse(state.source) : null;
      const key = await loadOrCreateSigningKey(config.ledger.signingKeyFile as string);
      const { credentials: service, approvals } = buildGateServices({
        store,
        key,
        scheduler,
        gatewayInstance: config.instanceId,
        policy: () => (document ? { version: state.version, document } : null),
      });
      return await use({
        service,
        caller,
        document,
        publicHost: config.publicHost,
        ports: proxyPorts(config),
        approvals,
      });
    } finally {
      await scheduler.stop();
    }
  });
}

interface Context {
  service: CredentialService;
  caller: { subject: string; groups: string[]; issuer: string };
  document: ReturnType<typeof policyDocument.parse> | null;
  publicHost: string;
  ports: ProxyPorts;
  approvals: ApprovalService;
}

export async function credentialIssueCommand(
  options: Options & {
    target: string;
    access: string;
    task: string;
    parent?: string;
    intent?: string;
    ttl: string;
    reason?: string;
  },
): Promise<number> {
  if (!["read-only", "read-write", "admin"].includes(options.access)) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `--access must be read-only, read-write or admin, not "${options.access}"`,
    );
  }
  const ttlMs = parseTtl(options.ttl);
  return withCredentials(options, async ({ service, approvals, caller, document, publicHost, ports }) => {
    const agent = {
      subject: caller.subject,
      issuer: caller.issuer,
      groups: caller.groups,
      kind: "agent" as const,
    };
    const state = await service.taskExists(options.task);
    if (!state) {
      await service.declareTask({
        taskId: options.task,
        parentTaskId: options.parent,
        intent: options.intent ?? "",
        agent,
      });
    }
    const request = {
      identity: { subject: caller.subject, groups: caller.groups },
      target: options.target,
      access: options.access as "read-only",
      taskId: options.task,
      ttlMs,
      reason: options.reason,
    };
    const issued = await service.issue(request).catch(async (error: unknown) => {
      // The grant wants a human's yes first: say so, wait for the approval, then ask again with it.
      if (!isSluiceError(error, "APPROVAL_REQUIRED")) throw error;
      const approvalId = String(error.details.approvalId);
      process.stderr.write(
        `${error.message}\nwaiting; an approver runs: sluice approvals approve ${approvalId}\n`,
      );
      // Waits until the request's own expiry at most (a job in this short-lived process would not fire).
      const state = await approvals.state(approvalId);
      const expiresAt = state.status === "none" ? Date.now() : Date.parse(state.request.expiresAt);
      const outcome = await approvals
        .outcome(approvalId, AbortSignal.timeout(Math.max(0, expiresAt - Date.now()) + 1000))
        .catch(() => ({ status: "expired" as const, reason: "no decision before the request expired" }));
      if (outcome.status !== "granted")
        throw new SluiceError("FORBIDDEN", `approval ${approvalId} ${outcome.status}: ${outcome.reason}`);
      return service.issue({ ...request, approvalId });
    });
    const target = document?.targets.find((t) => t.name === options.target);
    process.stdout.write(
      `credential ${issued.credentialId}\nexpires   ${issued.expiresAt.toISOString()}\ntoken     ${issued.token}\n`,
    );
    if (target)
      process.stdout.write(`\n${accessHint(target, publicHost, caller.subject, issued.token, ports)}\n`);
    return 0;
  });
}

export async function credentialRevokeCommand(
  options: Options & { id: string; reason?: string },
): Promise<number> {
  return withCredentials(options, async ({ service, caller }) => {
    await service.revoke(
      options.id,
      { subject: caller.subject, issuer: caller.issuer, groups: caller.groups, kind: "human" },
      options.reason ?? "revoked by operator",
    );
    process.stdout.write(`credential ${options.id} revoked\n`);
    return 0;
  });
}

function parseTtl(text: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw new SluiceError("CONFIG_INVALID", `--ttl must be a duration like 90s, 15m or 1h, not "${text}"`);
  }
}
