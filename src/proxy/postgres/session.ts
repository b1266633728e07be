import type { Socket } from "node:net";
import type { Session } from "../../gate/gate.ts";
import type { ProxyContext } from "../context.ts";
import type { BackendFrame } from "./codec/backend.ts";
import { PgProtocolError } from "./codec/errors.ts";
import type { FrontendMessage, FrontendReader } from "./codec/frontend.ts";
import { errorResponse } from "./codec/server-messages.ts";
import type { PostgresProxyConfig } from "./config.ts";
import { Conversation } from "./conversation.ts";
import { Outbox } from "./outbox.ts";
import { ResponseFlow } from "./response-flow.ts";
import type { ResultPlanner } from "./result-plan.ts";
import { ResultStream } from "./result-stream.ts";
import { SessionSearchPath } from "./search-path.ts";
import { StatementFlow } from "./statement-flow.ts";
import type { UpstreamConnection } from "./upstream.ts";

/**
 * One agent connection after login: pumps bytes both ways with backpressure — client messages
 * through the statement flow (which asks the gate), upstream frames through the response flow
 * (which masks and records) — and ends the session cleanly whichever side goes first.
 */
export class PgProxySession {
  private readonly statements: StatementFlow;
  private readonly toClient: Outbox;
  private readonly toUpstream: Outbox;
  private readonly responses: ResponseFlow;
  private readonly inbox: FrontendMessage[] = [];
  private busy = false;
  private closed = false;
  private readonly frames: BackendFrame[] = [];
  private frameAt = 0;
  private upstreamBlocked = false;
  private expiry: NodeJS.Timeout | undefined;
  private ended!: () => void;
  readonly done = new Promise<void>((resolve) => {
    this.ended = resolve;
  });

  constructor(
    private readonly client: Socket,
    private readonly reader: FrontendReader,
    private readonly upstream: UpstreamConnection,
    private readonly session: Session,
    private readonly context: ProxyContext,
    config: PostgresProxyConfig,
    planner: ResultPlanner,
  ) {
    this.toClient = new Outbox(client);
    this.toUpstream = new Outbox(upstream.socket);
    const conversation = new Conversation(
      upstream.status,
      context.gate,
      session,
      context.policy,
      planner,
      config.recordOutputBytes,
      context.log,
    );
    this.statements = new StatementFlow(
      conversation,
      session,
      context,
      planner,
      new SessionSearchPath(upstream.searchPath),
      (raw) => this.toUpstream.push(raw),
      (raw) => this.toClient.push(raw),
      {
        end: (reason) => this.end(reason),
        fatal: (sqlstate, message) => this.fatal(sqlstate, message),
        closed: () => this.closed,
      },
    );
    this.responses = new ResponseFlow(conversation, new ResultStream(planner));
  }

  /** Starts relaying; `pipelined` are messages the client sent right behind its password. */
  start(pipelined: FrontendMessage[], early: BackendFrame[]): void {
    const { client } = this;
    const upstream = this.upstream.socket;
    client.on("data", (chunk: Buffer) => this.onClientData(chunk));
    client.on("close", () => this.end("client disconnected"));
    client.on("error", () => this.end("client connection error"));
    upstream.on("data", (chunk: Buffer) => this.onUpstreamData(chunk));
    upstream.on("close", () => this.upstreamLost("the upstream server closed the connection"));
    upstream.on("error", (error) => this.upstreamLost(`the upstream connection failed: ${error.message}`));
    for (const frame of early) this.frames.push(frame);
    this.inbox.push(...pipelined);
    this.watchCredential();
    client.resume();
    upstream.resume();
    this.pumpUpstream();
    this.pumpClient();
  }

  /** Cancels a statement held for approval (the agent sent a CancelRequest). */
  cancelHold(): boolean {
    return this.statements.cancelHold();
  }

  /** Ends the session from the gateway side (shutdown, credential revoked or expired), telling the client why. */
  terminate(message: string): void {
    if (this.closed) return;
    this.toClient.push(errorResponse({ severity: "FATAL", code: "57P01", message }));
    this.toClient.flush();
    this.end(message);
  }

  /** A revoked or expired credential closes the sessions that use it, not only their next command. */
  private watchCredential(): void {
    const watch = this.session.watch;
    if (!watch) return;
    watch.onChange((state) => {
      if (state.status !== "active")
        this.terminate(
          `your Sluice credential was ${state.status === "none" ? "withdrawn" : state.status}: the session is closed`,
        );
    });
    const state = watch.state();
    if (state.status !== "active") return;
    const left = Math.min(Date.parse(state.expiresAt) - Date.now(), 2 ** 31 - 1);
    this.expiry = setTimeout(
      () => this.terminate("your Sluice credential expired: the session is closed"),
      left,
    );
    this.expiry.unref();
  }

  // ---- client → upstream ------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    try {
      for (const message of this.reader.push(chunk)) this.inbox.push(message);
    } catch (error) {
      if (!(error instanceof PgProtocolError)) throw error;
      this.fatal(error.sqlstate, error.message);
      return;
    }
    this.pumpClient();
  }

  private pumpClient(): void {
    const upstream = this.upstream.socket;
    while (!this.busy && !this.closed && this.inbox.length > 0) {
      const message = this.inbox.shift() as FrontendMessage;
      const pending = this.statements.handle(message);
      if (pending) {
        this.busy = true;
        this.client.pause();
        pending
          .catch((error: Error) =>
            this.fatal("XX000", `Sluice could not process the statement: ${error.message}`),
          )
          .finally(() => {
            this.busy = false;
            if (this.closed) return;
            this.client.resume();
            this.pumpClient();
          });
      }
    }
    if (this.toUpstream.flush() && !this.closed) {
      this.client.pause();
      upstream.once("drain", () => this.client.resume());
    }
  }

  // ---- upstream → client ------------------------------------------------------------

  private onUpstreamData(chunk: Buffer): void {
    try {
      for (const frame of this.upstream.framer.push(chunk)) this.frames.push(frame);
    } catch (error) {
      if (!(error instanceof PgProtocolError)) throw error;
      this.upstreamLost(`the upstream sent a malformed message: ${error.message}`);
      return;
    }
    this.pumpUpstream();
  }

  private pumpUpstream(): void {
    if (this.upstreamBlocked) return;
    const { client } = this;
    while (this.frameAt < this.frames.length && !this.closed) {
      const frame = this.frames[this.frameAt++] as BackendFrame;
      const out = this.responses.frame(frame);
      if (out instanceof Promise) {
        this.upstreamBlocked = true;
        this.upstream.socket.pause();
        this.toClient.flush();
        out
          .then((raw) => {
            if (raw) this.toClient.push(raw);
          })
          .catch((error: Error) => this.fatal("XX000", `Sluice could not mask this result: ${error.message}`))
          .finally(() => {
            this.upstreamBlocked = false;
            if (this.closed) return;
            this.upstream.socket.resume();
            this.pumpUpstream();
          });
        return;
      }
      if (out) this.toClient.push(out);
    }
    this.frames.length = 0;
    this.frameAt = 0;
    if (this.toClient.flush() && !this.closed) {
      this.upstream.socket.pause();
      client.once("drain", () => this.upstream.socket.resume());
    }
  }

  // ---- ending -----------------------------------------------------------------------

  private upstreamLost(reason: string): void {
    if (this.closed) return;
    this.toClient.push(errorResponse({ severity: "FATAL", code: "08006", message: `Sluice: ${reason}` }));
    this.toClient.flush();
    this.end(reason);
  }

  private fatal(sqlstate: string, message: string): void {
    if (this.closed) return;
    this.toClient.push(errorResponse({ severity: "FATAL", code: sqlstate, message }));
    this.toClient.flush();
    this.end(message);
  }

  private end(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.statements.cancelHold();
    clearTimeout(this.expiry);
    this.toClient.flush();
    this.toUpstream.flush();
    this.client.end();
    this.upstream.socket.end();
    setTimeout(() => {
      this.client.destroy();
      this.upstream.socket.destroy();
    }, 1000).unref();
    this.context.gate
      .closeSession(this.session, reason)
      .catch((error: Error) =>
        this.context.log.error(
          { err: error, sessionId: this.session.sessionId },
          "SessionEnded not recorded",
        ),
      )
      .finally(() => this.ended());
  }
}
