import type { Socket } from "node:net";
import { type SecureContext, TLSSocket } from "node:tls";
import { PgProtocolError } from "./codec/errors.ts";
import { type FrontendMessage, FrontendReader, passwordText } from "./codec/frontend.ts";
import { authenticationCleartextPassword, sslResponse } from "./codec/server-messages.ts";
import type { PostgresProxyConfig } from "./config.ts";
import { SocketFrames } from "./socket-frames.ts";

/** Until a client has signed in, it may send only small frames (a token fits easily). */
const LOGIN_FRAME_LIMIT = 64 * 1024;

export type HandshakeResult =
  | {
      kind: "login";
      socket: Socket;
      tls: boolean;
      parameters: Record<string, string>;
      password: string;
      reader: FrontendReader;
      /** Messages the client pipelined behind its password, for the session to process first. */
      pipelined: FrontendMessage[];
    }
  | { kind: "cancel"; processId: number; secretKey: number };

/** A refusal during login: sent as a FATAL ErrorResponse, then the connection closes. */
export class LoginRefused extends Error {
  constructor(
    readonly sqlstate: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The startup phase as a PostgreSQL server runs it: TLS or GSS encryption requests, then the
 * StartupMessage (or a CancelRequest), then a cleartext password request — the password
 * field carries the agent's gateway credential or OIDC token, so it is asked for only over
 * TLS unless configured otherwise.
 */
export async function handshake(
  plain: Socket,
  config: PostgresProxyConfig,
  secureContext: SecureContext | null,
): Promise<HandshakeResult> {
  const timeoutMs = config.upstreamConnectTimeoutSeconds * 1000;
  let socket: Socket = plain;
  let tls = false;
  let reader = new FrontendReader({ maxFrameBytes: LOGIN_FRAME_LIMIT });
  let frames = new SocketFrames(socket, (chunk) => reader.push(chunk), "client");
  for (;;) {
    const message = await frames.next(timeoutMs);
    if (message.type === "cancelRequest") {
      frames.detach();
      return { kind: "cancel", processId: message.processId, secretKey: message.secretKey };
    }
    if (message.type === "gssEncRequest") {
      socket.write(sslResponse(false));
      continue;
    }
    if (message.type === "sslRequest") {
      if (!secureContext || tls) {
        socket.write(sslResponse(false));
        continue;
      }
      frames.detach();
      socket.write(sslResponse(true));
      socket = await startTls(socket, secureContext, timeoutMs);
      tls = true;
      reader = new FrontendReader({ maxFrameBytes: LOGIN_FRAME_LIMIT });
      frames = new SocketFrames(socket, (chunk) => reader.push(chunk), "client");
      continue;
    }
    if (message.type !== "startup")
      throw new PgProtocolError("08P01", `unexpected ${message.type} message before startup`);
    const parameters = message.parameters;
    if (parameters.replication && parameters.replication !== "false" && parameters.replication !== "0")
      throw new LoginRefused("0A000", "replication connections are not supported through Sluice");
    if (!parameters.user)
      throw new LoginRefused("28000", "no PostgreSQL user name specified in startup packet");
    if (!tls && config.tls.mode === "required")
      throw new LoginRefused(
        "28000",
        "Sluice accepts only TLS connections on this port: connect with sslmode=require",
      );
    if (!tls && !config.allowPasswordWithoutTls)
      throw new LoginRefused(
        "28000",
        "the password field carries your Sluice credential or OIDC token, so it is accepted only over TLS: connect with sslmode=require",
      );
    socket.write(authenticationCleartextPassword());
    const answer = await frames.next(timeoutMs);
    if (answer.type !== "password")
      throw new PgProtocolError("08P01", `expected a password message, got ${answer.type}`);
    const password = passwordText(answer.data);
    const pipelined = frames.detach();
    reader.maxFrameBytes = config.maxFrameBytes;
    return { kind: "login", socket, tls, parameters, password, reader, pipelined };
  }
}

function startTls(socket: Socket, secureContext: SecureContext, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const secure = new TLSSocket(socket, { isServer: true, secureContext });
    const timer = setTimeout(() => {
      secure.destroy();
      reject(new Error(`TLS handshake did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    secure.once("secure", () => {
      clearTimeout(timer);
      secure.removeAllListeners("error");
      resolve(secure);
    });
    secure.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`TLS handshake failed: ${error.message}`));
    });
  });
}
