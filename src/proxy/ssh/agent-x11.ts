import type { Duplex } from "node:stream";
import ssh2, { type Client, type Connection, type GetStreamCallback, type X11Options } from "ssh2";
import type { SshFacts } from "../../domain/policy/command.ts";
import type { ConnectionScope } from "./connection.ts";
import { requestCommand } from "./decision.ts";
import { pipeBoth } from "./forwarding.ts";
import { openAgentChannel } from "./ssh2-extras.ts";

/**
 * Agent (`ssh -A`) and X11 (`ssh -X`/`-Y`) forwarding through the gateway. The session's request
 * (auth-agent-req, x11-req) is decided in session-channel.ts and, when allowed, asked of the
 * upstream together with the command. The channels the upstream then opens back
 * (auth-agent@openssh.com when something upstream uses the agent, x11 when an X client connects)
 * are each decided and recorded, opened towards the agent's connection and piped both ways.
 * Their bytes are the agent and X11 protocols: relayed, never masked.
 */

/** What an agent's x11-req asked for, passed to the upstream as it came (OpenSSH checks its own cookie). */
export function x11Options(info: {
  single: boolean;
  protocol: string;
  cookie: unknown;
  screen: number;
}): X11Options {
  // ssh2 hands the cookie over as the raw bytes of the hex text the client sent; a Buffer would be hex-encoded again.
  const cookie = Buffer.isBuffer(info.cookie) ? info.cookie.toString("latin1") : String(info.cookie);
  return { single: info.single, protocol: info.protocol, cookie, screen: info.screen };
}

export class ForwardedBack {
  /** Given to the upstream ssh2 Client: it asks for a stream whenever the upstream opens an agent channel. */
  readonly agent: ssh2.BaseAgent;
  #listening = false;

  constructor(
    private readonly conn: Connection,
    private readonly scope: () => Promise<ConnectionScope>,
    private readonly reserve: () => (() => void) | null,
    private readonly track: <T>(work: Promise<T>) => Promise<T>,
  ) {
    this.agent = new RelayAgent((cb) =>
      this.#open("agent_forward", "auth-agent@openssh.com channel", {}, openAgentChannel, (error, channel) =>
        error || !channel ? cb(error ?? new Error("refused")) : cb(undefined, channel),
      ),
    );
  }

  /** X11 connections the upstream opens (only after an allowed x11-req was passed on) go back to the agent. */
  listen(upstream: Client): void {
    if (this.#listening) return;
    this.#listening = true;
    upstream.on("x11", (details, accept, reject) => {
      const from = `${details.srcIP}:${details.srcPort}`;
      this.#open(
        "x11",
        `x11 channel from ${from}`,
        { origin: from },
        (conn, cb) => conn.x11(details.srcIP, details.srcPort, cb),
        (error, channel, release) =>
          error || !channel || !release ? reject() : pipeBoth(channel, accept(), release),
      );
    });
  }

  /** Decides (and records) one channel, then opens it towards the agent within the connection's channel limit. */
  #open(
    request: Extract<SshFacts["request"], "agent_forward" | "x11">,
    text: string,
    facts: Record<string, unknown>,
    open: (conn: Connection, cb: (error: Error | undefined, channel?: Duplex) => void) => void,
    done: (error: Error | undefined, channel?: Duplex, release?: () => void) => void,
  ): void {
    const release = this.reserve();
    if (!release) {
      done(new Error("too many channels open on this connection"));
      return;
    }
    const fail = (error: Error) => {
      release();
      done(error);
    };
    void this.track(
      (async () => {
        const s = await this.scope();
        const outcome = await s.decide(requestCommand(request, text, facts));
        if (outcome.kind === "deny") {
          s.log.info({ request: text, reason: outcome.reason }, "ssh forwarded channel refused");
          return fail(new Error(outcome.reason));
        }
        open(this.conn, (error, channel) => {
          if (error || !channel) return fail(error ?? new Error("not opened"));
          channel.once("close", release);
          done(undefined, channel, release);
        });
      })().catch((error: Error) => fail(error)),
    );
  }
}

/** Never signs anything itself: it only hands the upstream a stream to the agent's own SSH agent. */
class RelayAgent extends ssh2.BaseAgent {
  constructor(private readonly stream: (cb: GetStreamCallback) => void) {
    super();
  }

  getIdentities(cb: (error: Error | null, keys?: never[]) => void): void {
    cb(new Error("Sluice signs in to targets with its own credential, not the agent's keys"));
  }

  sign(_key: unknown, _data: Buffer, options: unknown, cb?: (error: Error | null) => void): void {
    const callback = typeof options === "function" ? options : cb;
    callback?.(new Error("Sluice does not sign with the agent's keys"));
  }

  override getStream(cb: GetStreamCallback): void {
    this.stream(cb);
  }
}
