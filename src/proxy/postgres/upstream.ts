import { connect as netConnect, type Socket } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { continueSession, finalizeSession, startSession } from "pg/lib/crypto/sasl.js";
import { postgresMd5PasswordHash } from "pg/lib/crypto/utils.js";
import { serialize } from "pg-protocol";
import {
  type BackendFrame,
  BackendFramer,
  decodeAuthentication,
  decodeBackendKeyData,
  decodeFields,
  decodeReadyForQuery,
} from "./codec/backend.ts";
import { B } from "./codec/codes.ts";
import { PROBE_MESSAGES, type ProbeAnswer, ProbeReply } from "./search-path-probe.ts";
import { SocketFrames } from "./socket-frames.ts";
import type { UpstreamSettings } from "./upstream-settings.ts";

/** The upstream refused or failed the connection; `fields` are its ErrorResponse, relayed to the client as is. */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly fields: Record<string, string>,
  ) {
    super(message);
  }
}

export interface UpstreamConnection {
  socket: Socket | TLSSocket;
  /** ParameterStatus frames, relayed to the client unchanged. */
  parameterFrames: Buffer[];
  backendKey: { processId: number; secretKey: number };
  status: "I" | "T" | "E";
  /** Frames that arrived after ReadyForQuery (e.g. an early NOTIFY), to deliver first. */
  leftover: BackendFrame[];
  /** The session's search_path and current user right after login (role and database defaults applied); null if unreadable. */
  searchPath: ProbeAnswer | null;
  framer: BackendFramer;
}

/**
 * Opens the gateway's own connection to the target: optional TLS (libpq sslmode semantics),
 * then the server's choice of SCRAM-SHA-256, md5, cleartext or trust, up to ReadyForQuery;
 * then reads the session's search_path (see search-path-probe.ts) before the client is told it is ready.
 */
export async function connectUpstream(
  settings: UpstreamSettings,
  parameters: Record<string, string>,
  options: { timeoutMs: number; maxFrameBytes: number },
): Promise<UpstreamConnection> {
  let socket: Socket | TLSSocket = await open(settings, options.timeoutMs);
  try {
    socket = await negotiateTls(socket, settings, options.timeoutMs);
    const framer = new BackendFramer({ maxFrameBytes: options.maxFrameBytes });
    const frames = new SocketFrames(socket, (chunk) => framer.push(chunk), "upstream");
    const next = () => frames.next(options.timeoutMs);
    socket.write(serialize.startup({ ...parameters, user: settings.user, database: settings.database }));
    await authenticate(socket, settings, next);
    const parameterFrames: Buffer[] = [];
    let backendKey = { processId: 0, secretKey: 0 };
    for (;;) {
      const frame = await next();
      if (frame.code === B.ParameterStatus) parameterFrames.push(frame.raw);
      else if (frame.code === B.BackendKeyData) backendKey = decodeBackendKeyData(frame.raw);
      else if (frame.code === B.ErrorResponse) throw upstreamError(frame.raw);
      else if (frame.code === B.ReadyForQuery) {
        decodeReadyForQuery(frame.raw); // checks the frame; the status the client gets is the probe's
        socket.write(PROBE_MESSAGES);
        const reply = new ProbeReply();
        while (reply.status === undefined) {
          const answer = await next();
          if (!reply.take(answer) && answer.code === B.ParameterStatus) parameterFrames.push(answer.raw);
        }
        return {
          socket,
          parameterFrames,
          backendKey,
          status: reply.status,
          leftover: frames.detach(),
          framer,
          searchPath: reply.answer,
        };
      }
      // NoticeResponse during startup is dropped: it concerns the gateway's own login.
    }
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

function open(settings: UpstreamSettings, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: settings.host, port: settings.port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connecting to ${settings.host}:${settings.port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach ${settings.host}:${settings.port}: ${error.message}`));
    });
  });
}

async function negotiateTls(socket: Socket, settings: UpstreamSettings, timeoutMs: number): Promise<Socket> {
  if (settings.sslMode === "disable") return socket;
  socket.write(serialize.requestSsl());
  const answer = await readByte(socket, timeoutMs);
  if (answer === 0x4e /* N */) {
    if (settings.sslMode === "prefer") return socket;
    throw new Error(
      `upstream ${settings.host}:${settings.port} does not offer TLS (sslmode=${settings.sslMode})`,
    );
  }
  if (answer !== 0x53 /* S */) throw new Error("upstream answered the TLS request with an unexpected byte");
  const verify = settings.sslMode === "verify-ca" || settings.sslMode === "verify-full";
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({
      socket,
      servername: /^[\d.:]+$/.test(settings.host) ? undefined : settings.host,
      ca: settings.ca,
      rejectUnauthorized: verify,
      // verify-ca trusts the chain but not the name, as libpq does.
      ...(settings.sslMode === "verify-ca" ? { checkServerIdentity: () => undefined } : {}),
    });
    secure.once("secureConnect", () => {
      secure.removeAllListeners("error");
      resolve(secure);
    });
    secure.once("error", (error) => reject(new Error(`upstream TLS failed: ${error.message}`)));
  });
}

function readByte(socket: Socket, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("upstream did not answer the TLS request")), timeoutMs);
    socket.once("data", (chunk: Buffer) => {
      clearTimeout(timer);
      // A server that answers more than one byte here is attempting an injection (CVE-2021-23214).
      if (chunk.length !== 1) reject(new Error("upstream sent unexpected data after the TLS answer"));
      else resolve(chunk[0] as number);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function authenticate(
  socket: Socket | TLSSocket,
  settings: UpstreamSettings,
  next: () => Promise<BackendFrame>,
): Promise<void> {
  const password = () => {
    if (settings.password === null)
      throw new Error(`upstream asks for a password and none is configured for user ${settings.user}`);
    return settings.password;
  };
  let sasl: ReturnType<typeof startSession> | undefined;
  for (;;) {
    const frame = await next();
    if (frame.code === B.ErrorResponse) throw upstreamError(frame.raw);
    if (frame.code !== B.Authentication)
      throw new Error(`unexpected upstream message '${String.fromCharCode(frame.code)}' during login`);
    const request = decodeAuthentication(frame.raw);
    switch (request.kind) {
      case "ok":
        return;
      case "cleartext":
        socket.write(serialize.password(password()));
        break;
      case "md5":
        socket.write(
          serialize.password(await postgresMd5PasswordHash(settings.user, password(), request.salt)),
        );
        break;
      case "sasl":
        // No channel binding: the gateway terminates the agent's TLS, so a binding would prove nothing end to end.
        sasl = startSession(request.mechanisms, undefined);
        socket.write(serialize.sendSASLInitialResponseMessage(sasl.mechanism, sasl.response));
        break;
      case "saslContinue":
        if (!sasl) throw new Error("upstream sent SASLContinue before SASL");
        await continueSession(sasl, password(), request.data.toString("utf8"), undefined);
        socket.write(serialize.sendSCRAMClientFinalMessage(sasl.response));
        break;
      case "saslFinal":
        if (!sasl) throw new Error("upstream sent SASLFinal before SASL");
        finalizeSession(sasl, request.data.toString("utf8"));
        break;
      default:
        throw new Error(
          `upstream asks for an authentication method Sluice does not speak (code ${request.code})`,
        );
    }
  }
}

function upstreamError(raw: Buffer): UpstreamError {
  const fields = decodeFields(raw);
  return new UpstreamError(`upstream: ${fields.M ?? "error"}`, fields);
}
