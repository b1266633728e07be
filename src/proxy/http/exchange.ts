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
import { LiteralScrubber } from "./scrub.ts";
import { downstreamHeaders, scrubText, upstreamHeaders } from "./upstream.ts";

/**
 * One admitted request: forwarded upstream with the gateway's credential, its body streamed
 * (and counted against the limit), the response streamed back through masking and the
 * credential scrubber with backpressure, then recorded as CommandCompleted.
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

  const timers = new Timers();
  try {
    const outgoing = upstream.request({
      agent: upstream.agent,
      protocol: upstream.base.protocol,
      hostname: upstream.base.hostname.replace(/^\[|\]$/g, ""),
      port: upstream.base.port || undefined,
      method: req.method,
      path: upstream.basePath + admitted.path,
      headers: upstreamHeaders(req.headers, upstream, { kubernetes, upgrade: false }),
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
      if (gone.aborted)
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
    if (stages.length > 1 || masker || scrubber) delete headers["content-length"];

    res.writeHead(status, headers);
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
    timers.clearAll();
    gone.removeEventListener("abort", abort);
    unregister();
  }
}

export class UpstreamTimeout extends Error {
  constructor(phase: "connect" | "response" | "idle") {
    super(
      phase === "connect"
        ? "the upstream did not accept a connection in time"
        : phase === "response"
          ? "the upstream did not answer in time"
          : "the upstream stopped sending the response",
    );
  }
}

function codeOf(error: unknown): string {
  return (error as { code?: string }).code ?? (error as Error).message;
}

/** Named timers of one exchange. */
class Timers {
  readonly #timers = new Map<string, NodeJS.Timeout>();

  start(name: string, seconds: number, fire: () => void): void {
    this.clear(name);
    this.#timers.set(name, setTimeout(fire, seconds * 1000));
  }

  refresh(name: string): void {
    this.#timers.get(name)?.refresh();
  }

  clear(name: string): void {
    const timer = this.#timers.get(name);
    if (timer) clearTimeout(timer);
    this.#timers.delete(name);
  }

  clearAll(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
