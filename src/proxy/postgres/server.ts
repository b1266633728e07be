import { randomInt } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import { createSecureContext } from "node:tls";
import type { Target } from "../../domain/policy/document.ts";
import { isSluiceError } from "../../errors.ts";
import { initSqlClassifier } from "../../gate/classify/sql.ts";
import type { Principal, Session } from "../../gate/gate.ts";
import { findTarget, type ProxyContext, type RunningProxy } from "../context.ts";
import { cancelRequest } from "./codec/client-messages.ts";
import { PgProtocolError } from "./codec/errors.ts";
import { authenticationOk, backendKeyData, errorResponse, readyForQuery } from "./codec/server-messages.ts";
import type { PostgresProxyConfig } from "./config.ts";
import { handshake, LoginRefused } from "./handshake.ts";
import { PostgresPlanners } from "./planners.ts";
import { PgProxySession } from "./session.ts";
import { loadProxyCertificate } from "./tls.ts";
import { connectUpstream, UpstreamError } from "./upstream.ts";
import { type UpstreamSettings, upstreamSettings } from "./upstream-settings.ts";

/** Startup parameters passed upstream; others (e.g. `options`, which can set any GUC) stay at the gateway. */
const FORWARDED_PARAMETERS = [
  "application_name",
  "client_encoding",
  "DateStyle",
  "TimeZone",
  "IntervalStyle",
  "extra_float_digits",
  "search_path",
];

interface Live {
  proxy: PgProxySession;
  upstream: UpstreamSettings;
  upstreamKey: { processId: number; secretKey: number };
}

/**
 * The PostgreSQL port: agents connect with any client, sign in with a Sluice credential or
 * OIDC token as the password, pick the target by database name, and talk to the target
 * through the gate. Several targets share the port.
 */
export async function startPostgresProxy(
  config: PostgresProxyConfig,
  context: ProxyContext,
): Promise<RunningProxy> {
  await initSqlClassifier(); // the PostgreSQL parser (WebAssembly) loads once, before the first statement
  const planners = new PostgresPlanners(context, config.catalogTtlSeconds * 1000);
  const certificate = await loadProxyCertificate(config.tls, context.dataDir);
  const secureContext = certificate ? createSecureContext(certificate) : null;
  const live = new Map<string, Live>();
  const connections = new Set<Socket>();

  const server = createServer((socket) => {
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
    serve(socket).catch((error: Error) => {
      context.log.error({ err: error }, "postgres proxy connection failed");
      socket.destroy();
    });
  });

  async function serve(socket: Socket): Promise<void> {
    socket.setNoDelay(true);
    socket.on("error", () => {});
    let session: Session | undefined;
    try {
      const login = await handshake(socket, config, secureContext);
      if (login.kind === "cancel") {
        socket.end();
        cancel(live.get(keyOf(login)));
        return;
      }
      const { parameters } = login;
      const client = login.socket;
      const principal = await context.gate.authenticate(login.password);
      const target = chooseTarget(context, parameters.database ?? parameters.user ?? "", principal);
      session = await context.gate.openSession({
        principal,
        target: target.name,
        protocol: "postgres",
        client: { address: socket.remoteAddress ?? "unknown", application: parameters.application_name },
      });
      const settings = await upstreamSettings(target, principal, context.roles);
      const forwarded: Record<string, string> = {};
      for (const name of FORWARDED_PARAMETERS) if (parameters[name]) forwarded[name] = parameters[name];
      const upstream = await connectUpstream(settings, forwarded, {
        timeoutMs: config.upstreamConnectTimeoutSeconds * 1000,
        maxFrameBytes: config.maxFrameBytes,
      });
      // The agent gets Sluice's own cancel key; the upstream's stays here and is used on its behalf.
      const key = { processId: randomInt(1, 2 ** 31 - 1), secretKey: randomInt(-(2 ** 31), 2 ** 31 - 1) };
      client.cork();
      client.write(authenticationOk());
      for (const frame of upstream.parameterFrames) client.write(frame);
      client.write(backendKeyData(key.processId, key.secretKey));
      client.write(readyForQuery(upstream.status));
      client.uncork();
      const proxy = new PgProxySession(
        client,
        login.reader,
        upstream,
        session,
        context,
        config,
        planners.forTarget(target),
      );
      live.set(keyOf(key), { proxy, upstream: settings, upstreamKey: upstream.backendKey });
      session = undefined; // the proxy session owns it now and ends it
      proxy.start(login.pipelined, upstream.leftover);
      await proxy.done;
      live.delete(keyOf(key));
    } catch (error) {
      refuse(socket, error);
      if (session)
        await context.gate.closeSession(session, `login failed: ${messageOf(error)}`).catch(() => {});
    }
  }

  /** A CancelRequest: ends a wait for approval at the gateway, else is relayed with the upstream's key. */
  function cancel(target: Live | undefined): void {
    if (!target) return; // as PostgreSQL does: an unknown key is ignored silently
    if (target.proxy.cancelHold()) return;
    const socket = connect(target.upstream.port, target.upstream.host, () => {
      socket.end(cancelRequest(target.upstreamKey.processId, target.upstreamKey.secretKey));
    });
    socket.on("error", () => socket.destroy());
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  return {
    protocol: "postgres",
    host: config.host,
    port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const sessions = [...live.values()].map((entry) => entry.proxy);
      for (const proxy of sessions) proxy.terminate("Sluice is shutting down");
      await Promise.all(sessions.map((proxy) => proxy.done));
      for (const socket of connections) socket.destroy(); // still signing in
      await closed;
      await planners.close();
    },
  };
}

/** The target a login asks for: the database name, or the one its credential is for. */
function chooseTarget(context: ProxyContext, database: string, principal: Principal): Target {
  const policy = context.policy();
  const named = findTarget(policy, database);
  if (named?.protocol === "postgres") return named;
  const scoped = principal.credential ? findTarget(policy, principal.credential.target) : undefined;
  if (scoped?.protocol === "postgres") return scoped;
  throw new LoginRefused("3D000", `database "${database}" is not a PostgreSQL target of this Sluice gateway`);
}

function refuse(socket: Socket, error: unknown): void {
  const fields = sqlErrorOf(error);
  if (!socket.destroyed) socket.end(errorResponse({ severity: "FATAL", ...fields }));
}

function sqlErrorOf(error: unknown): { code: string; message: string } {
  if (error instanceof LoginRefused) return { code: error.sqlstate, message: error.message };
  if (error instanceof PgProtocolError) return { code: error.sqlstate, message: error.message };
  if (error instanceof UpstreamError)
    return {
      code: error.fields.C ?? "08006",
      message: `upstream refused the connection: ${error.fields.M ?? ""}`,
    };
  if (isSluiceError(error)) {
    const code = error.code === "UNAUTHENTICATED" ? "28P01" : error.code === "FORBIDDEN" ? "28000" : "08006";
    return { code, message: `Sluice: ${error.message}` };
  }
  return { code: "08006", message: `Sluice could not connect you: ${(error as Error).message}` };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function keyOf(key: { processId: number; secretKey: number }): string {
  return `${key.processId}:${key.secretKey}`;
}
