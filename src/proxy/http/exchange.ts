import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { isSluiceError } from "../../errors.ts";
import type { Admitted, ProxyDeps } from "./admission.ts";
import { bodyKind, bodyMasker, type MaskedField } from "./body-masking.ts";
import { responseMasking } from "./masking-rules.ts";
import { finisher, upstreamOf } from "./outcome.ts";
import { BodyCapture, BodyTooLarge, recordedHeaders, recordedOutput } from "./recording.ts";
import type { Replier } from "./replies.ts";
import { type CredentialEnded, endedBy, endResponse, WatchTail } from "./revocation.ts";
import { LiteralScrubber } from "./scrub.ts";
import { Timers, UpstreamTimeout } from "./timers.ts";
import { downstreamHeaders, requestUpstream, scrubText } from "./upstream.ts";

/**
 * One admitted request: forwarded upstream with the gateway's credential, its body streamed
 * (and counted against the limit), the response streamed back through masking and the
 * credential scrubber with backpressure, then recorded as CommandCompleted. When the session's
 * credential is revoked or expires mid-way, the exchange ends: 401 if nothing was answered yet,
 * a final ERROR event for a Kubernetes watch, otherwise the response is cut.
 */

const DECOMPRESSORS: Record<string, () => Transform> = {
  gzip: createGunzip,
  "x-gzip": createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

export async function forward(
  deps: ProxyDeps,
  admitted: Admitted,
  req: IncomingMessage,
  res: ServerResponse,
  replier: Replier,
  gone: AbortSignal,
): Promise<void> {
  const { config, context } = deps;
  const { target, kubernetes, command } = admitted;
  const finish = finisher(deps, admitted);

  const upstream = upstreamOf(deps, admitted, replier, finish);
  if (!upstream) return;
  const masking = responseMasking(context.policy(), admitted.masking, {
    kubernetesSecrets: kubernetes && command.http.resource === "secrets",
    secretsByDefault: config.maskSecretsByDefault,
  });
  const limits = { maxValue: config.limits.jsonValueBytes, maxCarry: config.limits.maskMaxCarry };
  const recordLimit = config.limits.recordBodyBytes;
  const keep = recordLimit > 0 ? recordLimit + config.limits.maskMaxCarry : 0;

  const controller = new AbortController();
  const abort = () => controller.abort();
  gone.addEventListener("abort", abort, { once: true });
  const unregister = deps.register(abort);
  const requestCapture = new BodyCapture(keep, config.limits.requestBodyBytes);
  const requestRecord = {
    headers: recordedHeaders(req.headers),
    body: { capture: requestCapture, kind: bodyKind(req.headers["content-type"]) },
  };
  const record = (response?: Parameters<typeof recordedOutput>[0]["response"]) =>
    recordedOutput({
      request: requestRecord,
      ...(response ? { response } : {}),
      rules: masking.record,
      limits,
      limit: recordLimit,
      scrub: (text) => scrubText(text, upstream),
    });

  /** Answers the agent with the gateway's own error and records it. */
  const refuse = (status: number, reason: string, code: string, message: string) => {
    replier.send({ kubernetes, status, reason, message });
    finish({ status: "error", error: { code, message }, masked: [], ...record() });
  };

  const cut = admitted.lease.cut;
  if (cut.aborted) {
    const ended = endedBy(cut) as CredentialEnded;
    refuse(401, "Unauthorized", ended.code, ended.message);
    return;
  }
  // Where the exchange is when its credential ends decides how it ends (see onCut).
  let phase: "request" | "response" | "done" = "request";
  let cutBy: CredentialEnded | null = null;
  let responding: IncomingMessage | undefined;
  let tail: WatchTail | null = null;
  const timers = new Timers();
  const onCut = () => {
    if (phase === "done") return;
    cutBy = endedBy(cut);
    if (!cutBy) return;
    const ended = cutBy;
    if (phase === "request") {
      // Answered before the upstream is dropped: a client still uploading may only see the reset.
      replier.send({ kubernetes, status: 401, reason: "Unauthorized", message: ended.message });
      controller.abort(ended);
      return;
    }
    context.log.info(
      { target: target.name, commandId: admitted.commandId, credentialId: ended.credentialId },
      tail
        ? "kubernetes watch ended: credential no longer valid"
        : "http response cut: credential no longer valid",
    );
    endResponse(ended, responding as IncomingMessage, res, tail, timers);
  };
  cut.addEventListener("abort", onCut, { once: true });
  try {
    const outgoing = requestUpstream(upstream, req, admitted.path, {
      kubernetes,
      upgrade: false,
      signal: controller.signal,
    });
    const timeouts = config.upstream;
    timers.start("connect", timeouts.connectTimeoutSeconds, () =>
      outgoing.destroy(new UpstreamTimeout("connect")),
    );
    outgoing.once("socket", (socket) => {
      if (!socket.connecting) timers.clear("connect");
      else socket.once("connect", () => timers.clear("connect"));
    });
    outgoing.once("finish", () =>
      timers.start("response", timeouts.responseTimeoutSeconds, () =>
        outgoing.destroy(new UpstreamTimeout("response")),
      ),
    );
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      outgoing.once("response", resolve);
      outgoing.once("error", reject);
    });
    // Later errors (a reset mid-body) surface through the response's pipeline.
    outgoing.on("error", () => {});
    let sendError: unknown = null;
    // Most requests carry no body: end the upstream request at once rather than through a pipeline.
    const hasBody =
      req.headers["transfer-encoding"] !== undefined ||
      (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0");
    if (!hasBody) {
      req.resume();
      outgoing.end();
    }
    const sending = (hasBody ? pipeline(req, requestCapture, outgoing) : Promise.resolve()).catch((error) => {
      sendError = error;
    });

    let upRes: IncomingMessage;
    try {
      upRes = await response;
    } catch (error) {
      await sending;
      const cause = sendError instanceof BodyTooLarge ? sendError : error;
      if (cutBy) {
        const { code, message } = cutBy;
        finish({ status: "error", error: { code, message }, masked: [], ...record() });
      } else if (gone.aborted)
        finish({
          status: "cancelled",
          error: { code: "CLIENT_GONE", message: "the agent left" },
          masked: [],
          ...record(),
        });
      else if (cause instanceof BodyTooLarge)
        refuse(413, "RequestEntityTooLarge", "BODY_TOO_LARGE", cause.message);
      else if (cause instanceof UpstreamTimeout) refuse(504, "Timeout", "UPSTREAM_TIMEOUT", cause.message);
      else {
        const message = `the upstream is unreachable (${codeOf(cause)})`;
        refuse(502, "ServiceUnavailable", "UPSTREAM_UNREACHABLE", message);
      }
      return;
    }
    timers.clear("connect");
    timers.clear("response");
    if (cutBy) {
      // Cut while the response was on its way: the 401 is already sent.
      upRes.destroy();
      const { code, message } = cutBy as CredentialEnded;
      finish({ status: "error", error: { code, message }, masked: [], ...record() });
      return;
    }
    responding = upRes;

    const status = upRes.statusCode ?? 502;
    const headers = downstreamHeaders(upRes.headers, upstream);
    const noBody = req.method === "HEAD" || status === 204 || status === 304 || status < 200;
    const kind = bodyKind(upRes.headers["content-type"]);
    const encoding = String(upRes.headers["content-encoding"] ?? "identity").toLowerCase();
    const masker = noBody ? null : bodyMasker(kind, masking.client, limits);
    if (!noBody && kind !== "json" && kubernetes && masking.client.paths.length > 0) {
      // Secret values are found by path, in JSON only: any other form of the body is refused.
      upRes.destroy();
      const type = headers["content-type"] ?? "an unknown type";
      refuse(
        502,
        "ServiceUnavailable",
        "UNMASKABLE_BODY",
        `the cluster answered in ${type}, which cannot be masked as policy requires`,
      );
      return;
    }
    const stages: Transform[] = [];
    if (masker && encoding !== "identity") {
      const decompress = DECOMPRESSORS[encoding];
      if (!decompress) {
        upRes.destroy();
        const message = `the upstream sent a body encoded as ${encoding}, which cannot be masked`;
        refuse(502, "ServiceUnavailable", "UNMASKABLE_ENCODING", message);
        return;
      }
      stages.push(decompress());
      delete headers["content-encoding"];
    }
    const streaming =
      command.http.verb === "watch" ||
      command.http.query.follow === "true" ||
      /event-stream/i.test(String(headers["content-type"]));
    const responseCapture = new BodyCapture(
      keep,
      Number.POSITIVE_INFINITY,
      streaming ? undefined : () => timers.refresh("idle"),
    );
    stages.push(responseCapture);
    if (masker) stages.push(masker.stream);
    const scrubber = upstream.secrets.length > 0 && !noBody ? new LiteralScrubber(upstream.secrets) : null;
    if (scrubber) stages.push(scrubber);
    if (kubernetes && command.http.verb === "watch" && !noBody && status < 300) {
      tail = new WatchTail();
      stages.push(tail);
    }
    if (stages.length > 1 || masker || scrubber) delete headers["content-length"];

    res.writeHead(status, headers);
    phase = "response";
    if (!streaming)
      timers.start("idle", timeouts.idleTimeoutSeconds, () => upRes.destroy(new UpstreamTimeout("idle")));
    let failure: unknown = null;
    if (noBody) {
      upRes.on("error", () => {});
      upRes.resume();
      res.end();
    } else {
      await pipeline([upRes, ...stages, res]).catch((error) => {
        failure = error;
      });
    }
    phase = "done";
    const findings: MaskedField[] = masker ? masker.findings() : [];
    if (scrubber && scrubber.count > 0)
      findings.push({ field: "body", rule: "upstream-credential", count: scrubber.count });
    const recorded = record({
      status,
      headers: recordedHeaders(headers),
      body: noBody
        ? null
        : { capture: responseCapture, kind: encoding === "identity" || masker ? kind : "binary" },
    });
    const tag = `${status} ${STATUS_CODES[status] ?? ""}`.trim();
    if (cutBy) {
      const { code, message } = cutBy as CredentialEnded;
      const how =
        tail?.finished && res.writableFinished
          ? "the watch ended with an ERROR event"
          : "the response was cut";
      finish({
        status: "error",
        tag,
        error: { code, message: `${message}: ${how}` },
        masked: findings,
        ...recorded,
      });
      return;
    }
    if (failure) {
      const cancelled = gone.aborted;
      const refused = isSluiceError(failure);
      finish({
        status: cancelled ? "cancelled" : "error",
        tag,
        error: {
          code: cancelled ? "CLIENT_GONE" : refused ? "MASKING_REFUSED" : "UPSTREAM_FAILED",
          message: cancelled ? "the agent left before the response ended" : (failure as Error).message,
        },
        masked: findings,
        ...recorded,
      });
      if (!cancelled) context.log.warn({ err: failure, target: target.name }, "http response cut");
      return;
    }
    finish({
      status: status >= 400 ? "error" : "ok",
      tag,
      ...(status >= 400 ? { error: { code: `HTTP_${status}`, message: STATUS_CODES[status] ?? "" } } : {}),
      masked: findings,
      ...recorded,
    });
  } finally {
    phase = "done";
    cut.removeEventListener("abort", onCut);
    timers.clearAll();
    gone.removeEventListener("abort", abort);
    unregister();
  }
}

function codeOf(error: unknown): string {
  return (error as { code?: string }).code ?? (error as Error).message;
}
