import type { IncomingMessage } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { ClassifiedCommand } from "../../domain/policy/command.ts";
import type { Target } from "../../domain/policy/document.ts";
import { isSluiceError } from "../../errors.ts";
import type { EventInput } from "../../events/index.ts";
import { classifyHttp, type HttpClassification } from "../../gate/classify/http.ts";
import type { Verdict } from "../../gate/gate.ts";
import { maskText } from "../../gate/masking/index.ts";
import type { ProxyContext } from "../context.ts";
import type { HttpProxyConfig } from "./config.ts";
import { credentialRules } from "./masking-rules.ts";
import { recordedHeaders } from "./recording.ts";
import type { Replier, Reply } from "./replies.ts";
import { endedBy } from "./revocation.ts";
import { ambiguousPath, routeRequest } from "./routing.ts";
import type { HttpSessions, Lease } from "./sessions.ts";
import { impersonates, type Upstreams } from "./upstream.ts";

/**
 * Everything before a request may go upstream: route it to a target, authenticate the bearer
 * token (the session of that token), classify, and let the gate decide. A denial is answered
 * 403 naming the rule; a hold keeps the request open up to `holdWaitSeconds` and then answers
 * 202 with the approval id (the approval stays open with the session: see sessions.ts).
 */

export interface ProxyDeps {
  config: HttpProxyConfig;
  context: ProxyContext;
  sessions: HttpSessions;
  upstreams: Upstreams;
  /** Keeps work for close() to await: records before sessions end, `background` approval waits after. */
  track(work: Promise<unknown>, background?: boolean): void;
  /** Registers how to cut an exchange in flight when the proxy closes; returns the unregistration. */
  register(abort: () => void): () => void;
}

export type HttpCommand = Extract<ClassifiedCommand, { protocol: "http" | "kubernetes" }> & {
  http: HttpClassification;
};

export interface Admitted {
  lease: Lease;
  target: Target;
  kubernetes: boolean;
  /** Path and query below the target, as the agent sent them. */
  path: string;
  command: HttpCommand;
  commandId: string;
  /** The masking profile the decision named. */
  masking?: string;
  startedAt: number;
}

export async function admit(
  deps: ProxyDeps,
  req: IncomingMessage,
  replier: Replier,
  gone: AbortSignal,
): Promise<Admitted | null> {
  const startedAt = performance.now();
  const route = routeRequest(deps.context.policy(), req.headers.host, req.url ?? "/");
  if (!route) {
    replier.send({
      status: 404,
      reason: "NotFound",
      message:
        "no target here: name it by Host header (target hostnames) or as the first path segment (/<target>/...)",
    });
    return null;
  }
  const { target, path } = route;
  const kubernetes = target.protocol === "kubernetes";
  const reply = (answer: Reply) => replier.send({ ...answer, kubernetes });
  const token = bearer(req.headers.authorization);
  if (!token) {
    reply({
      status: 401,
      reason: "Unauthorized",
      message: "send Authorization: Bearer <gateway credential or OIDC token>",
      headers: { "www-authenticate": 'Bearer realm="sluice"' },
    });
    return null;
  }
  const ambiguous = ambiguousPath(path);
  if (ambiguous) {
    reply({ status: 400, reason: "BadRequest", message: `${ambiguous}; send the path in its plain form` });
    return null;
  }
  if (kubernetes && impersonates(req.headers)) {
    reply({
      status: 403,
      reason: "Forbidden",
      message: "Impersonate-* headers are not passed to the cluster",
    });
    return null;
  }

  let lease: Lease;
  try {
    lease = await deps.sessions.acquire(token, target.name, {
      address: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
      ...(req.headers["user-agent"] ? { application: req.headers["user-agent"] } : {}),
    });
  } catch (error) {
    if (isSluiceError(error, "UNAUTHENTICATED"))
      reply({ status: 401, reason: "Unauthorized", message: error.message });
    else if (isSluiceError(error, "FORBIDDEN"))
      reply({ status: 403, reason: "Forbidden", message: error.message });
    else {
      deps.context.log.error({ err: error, target: target.name }, "http session could not be opened");
      reply({
        status: 503,
        reason: "ServiceUnavailable",
        message: "the gateway cannot open a session right now",
      });
    }
    return null;
  }

  const classification = classifyHttp(req.method ?? "GET", path, { kubernetes });
  const command: HttpCommand = {
    protocol: kubernetes ? "kubernetes" : "http",
    text: `${req.method} ${withoutSecretsInQuery(path, classification)}`,
    http: classification,
  };
  const { gate } = deps.context;
  const session = lease.session;
  const complete = (
    outcome: Omit<EventInput<"CommandCompleted">, "sessionId" | "commandId" | "durationMs">,
  ) => {
    deps.track(
      gate
        .complete(session, verdict.commandId, {
          ...outcome,
          // What the agent sent is kept even when nothing ran (headers only: the body was never read).
          output: JSON.stringify({ request: { headers: recordedHeaders(req.headers) } }),
          durationMs: performance.now() - startedAt,
        })
        .catch((error) => deps.context.log.warn({ err: error }, "CommandCompleted not recorded")),
    );
  };
  let verdict: Verdict;
  try {
    verdict = await gate.decide(session, command);
  } catch (error) {
    lease.release();
    throw error;
  }
  if (verdict.kind === "hold") {
    const held = verdict;
    const waiting = held.wait();
    // The wait goes on after a 202 or a disconnect: a grant then lands in the session.
    deps.track(waiting, true);
    const stopTimer = new AbortController();
    const outcome = await Promise.race([
      waiting,
      sleep(deps.config.holdWaitSeconds * 1000, "pending" as const, {
        signal: AbortSignal.any([gone, stopTimer.signal, lease.cut]),
      }).catch(() => "gone" as const),
    ]);
    stopTimer.abort();
    const endedInHold = endedBy(lease.cut);
    if (outcome === "gone" && endedInHold && !gone.aborted) {
      // The credential ended during the hold: the request is refused; the approval ends with the session.
      const { code, message } = endedInHold;
      reply({ status: 401, reason: "Unauthorized", message });
      complete({ status: "cancelled", error: { code, message }, masked: [] });
      lease.release();
      return null;
    }
    if (outcome === "gone") {
      complete({
        status: "cancelled",
        error: { code: "CLIENT_GONE", message: "the agent left while the request was held" },
        masked: [],
      });
      lease.release();
      return null;
    }
    if (outcome === "pending") {
      const reuse = reuseWindow(deps, held.rule);
      const message =
        `held for approval ${held.approvalId} (rule ${held.rule}); this request was not run. ` +
        (reuse
          ? `Once approved, the identical request with the same token runs (for ${reuse} after approval).`
          : "The rule approves one held request only: a retry asks again, so keep the request open longer.");
      reply({
        status: 202,
        reason: "PendingApproval",
        message,
        details: { approvalId: held.approvalId, rule: held.rule, commandId: held.commandId },
        headers: { "sluice-approval-id": held.approvalId, ...(kubernetes ? {} : { "retry-after": "5" }) },
      });
      complete({ status: "cancelled", error: { code: "APPROVAL_PENDING", message }, masked: [] });
      lease.release();
      return null;
    }
    verdict = outcome;
  }
  const ended = verdict.kind === "deny" ? lease.credentialEnded() : null;
  if (ended) {
    // Refused by the gate because the credential ended: 401 saying so, as for the requests after it.
    reply({ status: 401, reason: "Unauthorized", message: ended.message });
    complete({ status: "denied", error: { code: ended.code, message: ended.message }, masked: [] });
    lease.release();
    return null;
  }
  if (verdict.kind === "deny") {
    const rule = verdict.rule ? ` (rule ${verdict.rule})` : "";
    const what = kubernetes && classification.resource ? describe(classification) : command.text;
    reply({
      status: 403,
      reason: "Forbidden",
      message: `sluice denied ${what}: ${verdict.reason}${rule}`,
      details: kubernetes
        ? { name: classification.name, group: classification.group, kind: classification.resource }
        : { rule: verdict.rule, commandId: verdict.commandId },
    });
    complete({ status: "denied", error: { code: "FORBIDDEN", message: verdict.reason }, masked: [] });
    lease.release();
    return null;
  }
  return {
    lease,
    target,
    kubernetes,
    path,
    command,
    commandId: verdict.commandId,
    ...(verdict.kind === "allow" && verdict.masking ? { masking: verdict.masking } : {}),
    startedAt,
  };
}

/**
 * Tokens and passwords in a query string (`?access_token=…`) are masked in what is recorded,
 * in the command text and the classification's query; the path itself, which rules match, is kept.
 */
function withoutSecretsInQuery(path: string, classification: HttpClassification): string {
  const at = path.indexOf("?");
  if (at === -1) return path;
  for (const [name, value] of Object.entries(classification.query)) {
    // Masked with its name, so `password=…` is recognised as it is in the text.
    const masked = maskText(`${name}=${value}`, credentialRules).text;
    classification.query[name] = masked.startsWith(`${name}=`) ? masked.slice(name.length + 1) : "«redacted»";
  }
  return path.slice(0, at) + maskText(path.slice(at), credentialRules).text;
}

function bearer(header: string | undefined): string | null {
  const found = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return found ? (found[1] as string) : null;
}

function describe(http: HttpClassification): string {
  const sub = http.subresource && http.subresource !== http.verb ? `/${http.subresource}` : "";
  const resource = `${http.resource}${sub}`;
  return `${http.verb} ${resource}${http.name ? ` "${http.name}"` : ""}${http.namespace ? ` in namespace ${http.namespace}` : ""}`;
}

function reuseWindow(deps: ProxyDeps, ruleName: string): string | null {
  const rule = deps.context.policy()?.document.rules.find((r) => r.name === ruleName);
  if (rule?.action !== "require_approval" || !rule.approval.reuseWithin) return null;
  const ms = rule.approval.reuseWithin;
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`;
}
