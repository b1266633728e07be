import type ssh2 from "ssh2";
import type { AuthContext, ClientInfo, Connection, ServerChannel } from "ssh2";
import type { ClassifiedCommand } from "../../domain/policy/command.ts";
import type { PolicySnapshot } from "../../domain/policy/decide.ts";
import type { Target } from "../../domain/policy/document.ts";
import { globMatch } from "../../domain/policy/match.ts";
import type { Gate, Session } from "../../gate/gate.ts";
import type { Logger } from "../../log.ts";
import { type AgentLogin, AUTH_METHODS, authenticateAgent } from "./agent-auth.ts";
import { ForwardedBack } from "./agent-x11.ts";
import type { SshProxyConfig } from "./config.ts";
import { decideRequest, type Outcome } from "./decision.ts";
import { handleForwarding } from "./forwarding.ts";
import type { MaskPool } from "./mask-pool.ts";
import type { OutputSink } from "./recorder.ts";
import type { ExitInfo, RelayResult } from "./relay.ts";
import { handleSession } from "./session-channel.ts";
import { disconnectWith } from "./ssh2-extras.ts";
import { connectUpstream } from "./upstream.ts";

/** What the channel handlers of one agent connection share. */
export interface ConnectionScope {
  gate: Gate;
  session: Session;
  target: Target;
  config: SshProxyConfig;
  log: Logger;
  masks: MaskPool;
  policy(): PolicySnapshot | null;
  /** Aborted when the agent disconnects: holds stop waiting, upstream work ends. */
  signal: AbortSignal;
  /** The upstream connection, opened once per agent connection. */
  upstream(): Promise<ssh2.Client>;
  /** Work the connection's end waits for before it records SessionEnded. */
  track<T>(work: Promise<T>): Promise<T>;
  decide(command: ClassifiedCommand, tell?: (line: string) => void): Promise<Outcome>;
  complete(
    commandId: string,
    startedAt: number,
    end:
      | { status: "error"; message: string }
      | { exit: ExitInfo; masked: RelayResult["masked"]; sink: OutputSink },
  ): Promise<void>;
  completeDenied(outcome: Extract<Outcome, { kind: "deny" }>, cancelled: boolean): Promise<void>;
}

export interface ConnectionDeps {
  masks: MaskPool;
  gate: Gate;
  policy: () => PolicySnapshot | null;
  config: SshProxyConfig;
  log: Logger;
}

const MAX_AUTH_FAILURES = 6;

/**
 * One agent connection: sign-in, then a gate session (SessionStarted) and one upstream
 * connection shared by its channels; on hang-up, waits for its channels' records, then
 * closes the upstream and the gate session (SessionEnded, pending approvals cancelled).
 */
export class AgentConnection {
  readonly #abort = new AbortController();
  readonly #work = new Set<Promise<unknown>>();
  #login: AgentLogin | undefined;
  #scope: Promise<ConnectionScope> | undefined;
  #scopeNow: ConnectionScope | undefined;
  #upstream: Promise<ssh2.Client> | undefined;
  #channels = 0;
  #failures = 0;
  /** The agent-side channels running exec, shell or sftp: told why when the connection is ended under them. */
  readonly #running = new Set<ServerChannel>();
  readonly closed: Promise<void>;

  constructor(
    private readonly conn: Connection,
    private readonly info: ClientInfo,
    private readonly deps: ConnectionDeps,
  ) {
    const log = deps.log.child({ client: `${info.ip}:${info.port}` });
    // Small packets (exit status, EOF, close) must not wait for Nagle and delayed ACKs (~40 ms).
    (conn as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
    const authTimer = setTimeout(() => conn.end(), deps.config.authTimeoutSeconds * 1000);
    conn.on("authentication", (ctx) => this.#authenticate(ctx, log));
    conn.on("error", (error) => log.debug({ err: error.message }, "ssh connection error"));
    conn.once("ready", () => {
      clearTimeout(authTimer);
      this.#scope = this.#open(log);
      this.#scope.then(
        (scope) => {
          this.#scopeNow = scope;
        },
        () => {},
      );
      this.#scope.catch((error) => {
        log.warn({ err: (error as Error).message }, "ssh session could not start");
        conn.end();
      });
      conn.on("session", (accept, reject) => {
        const scope = this.#scope as Promise<ConnectionScope>;
        const release = this.#reserve();
        if (!release) return reject();
        const channel = accept();
        channel.once("close", release);
        // Handlers go on at once: the client's requests follow the open without waiting for us.
        handleSession(channel, scope, {
          track: (work) => this.#track(work),
          envAllowed: (name) => globMatch(deps.config.env, name),
          running: (agent) => {
            this.#running.add(agent);
            agent.once("close", () => this.#running.delete(agent));
          },
        });
      });
      handleForwarding(
        conn,
        () => this.#scope as Promise<ConnectionScope>,
        () => this.#reserve(),
        (work) => this.#track(work),
      );
    });
    this.closed = new Promise((resolve) => {
      conn.once("close", () => {
        clearTimeout(authTimer);
        resolve(this.#finish());
      });
    });
  }

  /** Ends the agent connection (gateway shutdown). */
  end(): void {
    this.conn.end();
  }

  #reserve(): (() => void) | null {
    if (this.#channels >= this.deps.config.maxChannelsPerConnection) return null;
    this.#channels++;
    let released = false;
    return () => {
      if (!released) this.#channels--;
      released = true;
    };
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#work.add(work);
    void work.finally(() => this.#work.delete(work)).catch(() => {});
    return work;
  }

  #authenticate(ctx: AuthContext, log: Logger): void {
    if (ctx.method === "none" || this.#login) {
      ctx.reject(AUTH_METHODS);
      return;
    }
    authenticateAgent(ctx, this.deps.gate, this.deps.policy()).then(
      (login) => {
        // A public key offered without a signature is only a probe ("would you take it?").
        if (ctx.method !== "publickey" || ctx.signature) this.#login = login;
        ctx.accept();
      },
      (error: Error) => {
        log.info({ user: ctx.username, method: ctx.method, reason: error.message }, "ssh sign-in refused");
        if (++this.#failures >= MAX_AUTH_FAILURES) return this.conn.end();
        ctx.reject(AUTH_METHODS);
      },
    );
  }

  /**
   * A revoked or expired credential ends the connections that use it, not only their next command.
   * Each running exec, shell or sftp is told why on its stderr and closed (OpenSSH prints what it
   * got before it exits), then the connection ends with the reason in its DISCONNECT.
   */
  #endWithCredential(session: Session, log: Logger): void {
    const watch = session.watch;
    const credentialId = session.principal.credential?.credentialId;
    if (!watch) return;
    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      log.info({ why }, "ending the connection: its credential is no longer valid");
      // ASCII only: OpenSSH shows a DISCONNECT's description with anything else escaped.
      const message = `sluice: credential ${credentialId} ${why === "revoked" ? "was revoked" : "expired"}; connection closed`;
      const channels = [...this.#running];
      for (const agent of channels) {
        if (!agent.stderr.writableEnded) agent.stderr.write(`\r\n${message}\r\n`);
        agent.close();
      }
      // The client answers each close; the DISCONNECT follows once it has (or after a short bound).
      const closed = channels.map((agent) => new Promise((resolve) => agent.once("close", resolve)));
      const bound = new Promise((resolve) => setTimeout(resolve, 1000).unref());
      void Promise.race([Promise.all(closed), bound]).then(() => disconnectWith(this.conn, message));
    };
    watch.onChange((state) => {
      if (state.status !== "active") end(state.status);
    });
    const state = watch.state();
    if (state.status !== "active") return;
    const timer = setTimeout(
      () => end("expired"),
      Math.min(Date.parse(state.expiresAt) - Date.now(), 2 ** 31 - 1),
    );
    timer.unref();
    this.conn.once("close", () => clearTimeout(timer));
  }

  async #open(log: Logger): Promise<ConnectionScope> {
    const { gate, config, policy } = this.deps;
    const { principal, target, login } = this.#login as AgentLogin;
    const session = await gate.openSession({
      principal,
      target: target.name,
      protocol: "ssh",
      client: { address: this.info.ip, application: this.info.header.versions.software },
    });
    const sessionLog = log.child({ sessionId: session.sessionId, target: target.name });
    this.#endWithCredential(session, sessionLog);
    const track = <T>(work: Promise<T>) => this.#track(work);
    const back = new ForwardedBack(
      this.conn,
      () => this.#scope as Promise<ConnectionScope>,
      () => this.#reserve(),
      track,
    );
    return {
      gate,
      session,
      target,
      config,
      log: sessionLog,
      masks: this.deps.masks,
      policy,
      signal: this.#abort.signal,
      upstream: () => {
        this.#upstream ??= connectUpstream({
          target,
          login,
          timeoutMs: config.upstreamConnectTimeoutSeconds * 1000,
          agent: back.agent,
        }).then((client) => {
          // The upstream went away: nothing more can run, so the agent's connection ends too.
          client.once("close", () => this.conn.end());
          back.listen(client);
          return client;
        });
        return this.#upstream;
      },
      track,
      decide: (command, tell) =>
        track(
          decideRequest({
            gate,
            session,
            command,
            holdNotice: config.holdNotice,
            tell,
            signal: this.#abort.signal,
          }),
        ),
      complete: (commandId, startedAt, end) => track(complete(gate, session, commandId, startedAt, end)),
      completeDenied: (outcome, cancelled) =>
        track(
          gate
            .complete(session, outcome.commandId as string, {
              status: cancelled ? "cancelled" : "denied",
              durationMs: 0,
              masked: [],
              error: { code: "denied", message: outcome.reason },
            })
            .catch(() => {}),
        ),
    };
  }

  /** After hang-up: let in-flight records land, then close upstream and the gate session. */
  async #finish(): Promise<void> {
    // Aborting ends the waits of held commands, which takes their approvals off the session's
    // pending set; they are put back so closeSession cancels them (ApprovalCancelled).
    const scope = this.#scopeNow;
    const held = scope ? [...scope.session.pendingApprovals] : [];
    this.#abort.abort();
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
    if (this.#upstream) this.#upstream.then((client) => client.end()).catch(() => {});
    const opened = await this.#scope?.catch(() => undefined);
    if (!opened) return;
    for (const approvalId of held) opened.session.pendingApprovals.add(approvalId);
    await opened.gate.closeSession(opened.session, "agent disconnected").catch(() => {});
  }
}

async function complete(
  gate: Gate,
  session: Session,
  commandId: string,
  startedAt: number,
  end: Parameters<ConnectionScope["complete"]>[2],
): Promise<void> {
  const durationMs = Math.max(0, performance.now() - startedAt);
  if ("status" in end) {
    await gate
      .complete(session, commandId, {
        status: "error",
        durationMs,
        masked: [],
        error: { code: "upstream", message: end.message },
      })
      .catch(() => {});
    return;
  }
  const kept = await end.sink.finish().catch(() => ({ output: undefined, truncatedBytes: 0 }));
  const { exit } = end;
  const outcome =
    exit === null
      ? { status: "cancelled" as const }
      : "code" in exit
        ? exit.code === 0
          ? { status: "ok" as const, tag: "exit 0" }
          : {
              status: "error" as const,
              tag: `exit ${exit.code}`,
              error: { code: "exit_status", message: `exit status ${exit.code}` },
            }
        : {
            status: "error" as const,
            tag: `signal ${exit.signal}`,
            error: { code: "signal", message: `killed by SIG${exit.signal}` },
          };
  await gate
    .complete(session, commandId, {
      ...outcome,
      durationMs,
      masked: end.masked,
      ...(kept.output !== undefined ? { output: kept.output } : {}),
      ...(kept.truncatedBytes > 0 ? { truncated: { bytes: kept.truncatedBytes, rows: 0 } } : {}),
    })
    .catch(() => {});
}
