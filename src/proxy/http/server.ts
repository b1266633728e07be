import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { SluiceError } from "../../errors.ts";
import type { ProxyContext, RunningProxy } from "../context.ts";
import { admit, type ProxyDeps } from "./admission.ts";
import type { HttpProxyConfig } from "./config.ts";
import { forward } from "./exchange.ts";
import { responseReplier, socketReplier } from "./replies.ts";
import { HttpSessions } from "./sessions.ts";
import { loadHttpCertificate } from "./tls.ts";
import { tunnel } from "./tunnel.ts";
import { Upstreams } from "./upstream.ts";

/**
 * The HTTP and Kubernetes API port. A plain node:http server rather than a framework: a
 * reverse proxy wants the raw request and response streams (no body parsing, streaming both
 * ways with backpressure) and the `upgrade` event for exec/attach/portforward.
 */
export async function startHttpProxy(config: HttpProxyConfig, context: ProxyContext): Promise<RunningProxy> {
  const active = new Set<() => void>();
  // Requests and their records must end before their sessions do; approval waits end with them.
  const work = new Set<Promise<unknown>>();
  const waits = new Set<Promise<unknown>>();
  const keep = (set: Set<Promise<unknown>>, promise: Promise<unknown>) => {
    set.add(promise);
    void promise.finally(() => set.delete(promise)).catch(() => {});
  };
  const sessions = new HttpSessions(context.gate, {
    idleMs: config.sessionIdleSeconds * 1000,
    log: context.log,
    protocolOf: (name) =>
      context.policy()?.document.targets.find((t) => t.name === name)?.protocol === "kubernetes"
        ? "kubernetes"
        : "http",
  });
  const upstreams = new Upstreams();
  const deps: ProxyDeps = {
    config,
    context,
    sessions,
    upstreams,
    track(promise, background = false) {
      keep(background ? waits : work, promise);
    },
    register(abort) {
      active.add(abort);
      return () => active.delete(abort);
    },
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const gone = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) gone.abort();
    });
    const replier = responseReplier(res);
    const request = (async () => {
      const admitted = await admit(deps, req, replier, gone.signal);
      if (!admitted) return;
      try {
        await forward(deps, admitted, req, res, replier, gone.signal);
      } finally {
        admitted.lease.release();
      }
    })().catch((error) => {
      context.log.error({ err: error }, "http request failed");
      replier.send({ status: 500, reason: "InternalError", message: "the gateway failed on this request" });
    });
    deps.track(request);
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const gone = new AbortController();
    socket.once("close", () => gone.abort());
    socket.on("error", () => socket.destroy());
    const replier = socketReplier(socket);
    const request = (async () => {
      const admitted = await admit(deps, req, replier, gone.signal);
      if (!admitted) return;
      try {
        await tunnel(deps, admitted, req, socket, head, replier);
      } finally {
        admitted.lease.release();
      }
    })().catch((error) => {
      context.log.error({ err: error }, "http upgrade failed");
      socket.destroy();
    });
    deps.track(request);
  };

  const certificate = await loadHttpCertificate(config.tls, context.dataDir);
  const server: Server = certificate ? createHttpsServer(certificate) : createHttpServer();
  // A held request may wait for approval longer than Node's default whole-request timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.on("request", onRequest);
  server.on("upgrade", onUpgrade);
  server.on("clientError", (_error, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) =>
      reject(
        new SluiceError(
          "CONFIG_INVALID",
          `http proxy could not bind ${config.host}:${config.port}: ${error.message}`,
        ),
      ),
    );
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;

  let closing: Promise<void> | null = null;
  const close = async () => {
    server.close();
    server.closeIdleConnections();
    for (const abort of active) abort();
    server.closeAllConnections();
    while (work.size > 0) await Promise.allSettled([...work]);
    // Ending the sessions cancels the approvals they still wait for, which ends those waits.
    await sessions.closeAll("gateway stopping");
    while (waits.size > 0) await Promise.allSettled([...waits]);
    upstreams.close();
  };
  return {
    protocol: "http",
    host: config.host,
    port,
    close: () => {
      closing ??= close();
      return closing;
    },
  };
}
