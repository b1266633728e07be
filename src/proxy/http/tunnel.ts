import { type IncomingMessage, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import type { Admitted, ProxyDeps } from "./admission.ts";
import { finisher, type Outcome, upstreamOf } from "./outcome.ts";
import { recordedHeaders } from "./recording.ts";
import type { Replier } from "./replies.ts";
import { type CredentialEnded, endedBy } from "./revocation.ts";
import { LiteralScrubber } from "./scrub.ts";
import { downstreamHeaders, requestUpstream } from "./upstream.ts";

/**
 * Upgrade requests (Kubernetes exec/attach/portforward over WebSocket or SPDY, any WebSocket
 * API), once policy allowed them: the upstream's 101 is relayed and bytes flow both ways with
 * backpressure until either side closes. The framed streams are not decoded, so what is
 * recorded is the request, the upgrade and the byte counts each way, not the content. A
 * credential revoked or expired closes both sides (or answers 401 before the upgrade).
 */

export async function tunnel(
  deps: ProxyDeps,
  admitted: Admitted,
  req: IncomingMessage,
  socket: Duplex,
  clientHead: Buffer,
  replier: Replier,
): Promise<void> {
  const { config } = deps;
  const { kubernetes } = admitted;
  const finish = finisher(deps, admitted);
  const requestHeaders = recordedHeaders(req.headers);
  const upstream = upstreamOf(deps, admitted, replier, finish);
  if (!upstream) return;
  const cut = admitted.lease.cut;
  const cutOutcome = (ended: CredentialEnded, extra: Partial<Outcome> = {}): Outcome => ({
    masked: [],
    ...extra,
    status: "error",
    error: { code: ended.code, message: ended.message },
  });
  if (cut.aborted) {
    const ended = endedBy(cut) as CredentialEnded;
    replier.send({ kubernetes, status: 401, reason: "Unauthorized", message: ended.message });
    finish(cutOutcome(ended));
    return;
  }
  // Set once the tunnel is up: closes both sides, recording why.
  let close: ((why: string, ended?: CredentialEnded) => void) | null = null;
  const onCut = () => {
    const ended = endedBy(cut);
    if (!ended) return;
    deps.context.log.info(
      { target: admitted.target.name, commandId: admitted.commandId, credentialId: ended.credentialId },
      "http tunnel closed: credential no longer valid",
    );
    if (close) close("credential ended", ended);
    else if (replier.sent) socket.destroy();
    else controller.abort(ended);
  };
  cut.addEventListener("abort", onCut, { once: true });
  const controller = new AbortController();
  const unregister = deps.register(() => controller.abort());
  const outgoing = requestUpstream(upstream, req, admitted.path, {
    kubernetes,
    upgrade: true,
    signal: controller.signal,
  });
  const timer = setTimeout(
    () => outgoing.destroy(new Error("the upstream did not answer the upgrade in time")),
    config.upstream.responseTimeoutSeconds * 1000,
  );
  socket.once("close", () => controller.abort());
  outgoing.end();
  try {
    const outcome = await new Promise<Outcome>((resolve) => {
      let answered = false;
      outgoing.once("upgrade", (upRes: IncomingMessage, upSocket: Duplex, upHead: Buffer) => {
        answered = true;
        clearTimeout(timer);
        const headers = downstreamHeaders(upRes.headers, upstream);
        let head = "HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\n";
        if (upRes.headers.upgrade) head += `upgrade: ${upRes.headers.upgrade}\r\n`;
        for (const [name, value] of Object.entries(headers)) {
          for (const v of Array.isArray(value) ? value : [value])
            if (v !== undefined) head += `${name}: ${v}\r\n`;
        }
        socket.write(`${head}\r\n`);
        const bytes = { toUpstream: clientHead.length, toAgent: upHead.length };
        if (upHead.length > 0) socket.write(upHead);
        if (clientHead.length > 0) upSocket.write(clientHead);
        socket.on("data", (chunk: Buffer) => {
          bytes.toUpstream += chunk.length;
        });
        upSocket.on("data", (chunk: Buffer) => {
          bytes.toAgent += chunk.length;
        });
        socket.pipe(upSocket);
        upSocket.pipe(socket);
        let ended = false;
        const end = (why: string, credential?: CredentialEnded) => {
          if (ended) return;
          ended = true;
          socket.destroy();
          upSocket.destroy();
          const outcome: Outcome = {
            status: "ok",
            tag: "101 Switching Protocols",
            masked: [],
            output: JSON.stringify({
              request: { headers: requestHeaders },
              upgrade: { protocol: upRes.headers.upgrade ?? null, ended: why, bytes },
            }),
          };
          resolve(credential ? cutOutcome(credential, outcome) : outcome);
        };
        close = end;
        // pipe() passes each side's end on; a socket closes once both of its directions ended.
        socket.once("close", () => end("agent closed"));
        upSocket.once("close", () => end("upstream closed"));
        socket.on("error", () => end("agent connection failed"));
        upSocket.on("error", () => end("upstream connection failed"));
      });
      outgoing.once("response", (upRes: IncomingMessage) => {
        // The upstream refused the upgrade: relay its answer as it is (credential scrubbed).
        answered = true;
        clearTimeout(timer);
        const status = upRes.statusCode ?? 502;
        const headers = downstreamHeaders(upRes.headers, upstream);
        delete headers["content-length"];
        let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nconnection: close\r\n`;
        for (const [name, value] of Object.entries(headers)) {
          for (const v of Array.isArray(value) ? value : [value])
            if (v !== undefined) head += `${name}: ${v}\r\n`;
        }
        socket.write(`${head}\r\n`);
        upRes.on("error", () => socket.destroy());
        upRes.pipe(new LiteralScrubber(upstream.secrets)).pipe(socket);
        upRes.once("close", () =>
          resolve({
            status: status >= 400 ? "error" : "ok",
            tag: `${status} ${STATUS_CODES[status] ?? ""}`.trim(),
            ...(status >= 400
              ? { error: { code: `HTTP_${status}`, message: "the upstream refused the upgrade" } }
              : {}),
            masked: [],
            output: JSON.stringify({ request: { headers: requestHeaders }, response: { status } }),
          }),
        );
      });
      outgoing.on("error", (error) => {
        clearTimeout(timer);
        if (answered) return;
        const ended = endedBy(cut);
        if (ended) {
          replier.send({ kubernetes, status: 401, reason: "Unauthorized", message: ended.message });
          resolve(cutOutcome(ended));
          return;
        }
        if (socket.destroyed) {
          resolve({
            status: "cancelled",
            error: { code: "CLIENT_GONE", message: "the agent left" },
            masked: [],
          });
          return;
        }
        const message = `the upstream is unreachable (${(error as { code?: string }).code ?? error.message})`;
        replier.send({ kubernetes, status: 502, reason: "ServiceUnavailable", message });
        resolve({ status: "error", error: { code: "UPSTREAM_UNREACHABLE", message }, masked: [] });
      });
    });
    finish(outcome);
  } finally {
    clearTimeout(timer);
    cut.removeEventListener("abort", onCut);
    unregister();
  }
}
