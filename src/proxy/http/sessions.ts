import { createHash } from "node:crypto";
import { decodeJwt } from "jose";
import type { Gate, Session } from "../../gate/gate.ts";
import { isGatewayCredential } from "../../identity/gateway-token.ts";
import type { Logger } from "../../log.ts";

/**
 * HTTP has no connection-long session, so one is kept per bearer token and target: the first
 * request authenticates and opens it (SessionStarted), later requests with the same token reuse
 * it, and it ends (SessionEnded) after `idleMs` with no request in flight, no approval pending
 * and no approval grant still usable. Approval grants with `reuseWithin` live in the session,
 * so an identical retry with the same token after a 202 runs once its approval is granted.
 * A gateway credential is checked again by the gate at every request (revocation, expiry); an
 * OIDC token's expiry is checked here, and an expired one opens no session.
 */

interface Entry {
  key: string;
  opening: Promise<Session>;
  session: Session | null;
  inFlight: number;
  lastUsed: number;
  /** OIDC tokens: their `exp` in ms (gateway credentials are checked by the gate). */
  expiresAt: number;
}

export interface Lease {
  readonly session: Session;
  release(): void;
}

export class HttpSessions {
  readonly #entries = new Map<string, Entry>();
  readonly #sweeper: NodeJS.Timeout;
  #closed = false;

  constructor(
    private readonly gate: Gate,
    private readonly options: {
      idleMs: number;
      log: Logger;
      protocolOf: (target: string) => "http" | "kubernetes";
    },
  ) {
    this.#sweeper = setInterval(() => void this.sweep(), Math.min(options.idleMs / 2, 30_000));
    this.#sweeper.unref();
  }

  /** The session for this token and target, opened on first use; throws UNAUTHENTICATED or FORBIDDEN. */
  async acquire(
    token: string,
    target: string,
    client: { address: string; application?: string },
  ): Promise<Lease> {
    if (this.#closed) throw new Error("the HTTP proxy is closing");
    const key = `${createHash("sha256").update(token).digest("base64url")}:${target}`;
    let entry = this.#entries.get(key);
    const now = Date.now();
    if (entry && entry.expiresAt <= now) {
      this.#entries.delete(key);
      void this.#end(entry, "token expired");
      entry = undefined;
    }
    if (!entry) {
      const created: Entry = {
        key,
        opening: this.#open(token, target, client),
        session: null,
        inFlight: 0,
        lastUsed: now,
        expiresAt: oidcExpiry(token),
      };
      this.#entries.set(key, created);
      created.opening.then(
        (session) => {
          created.session = session;
        },
        () => {
          if (this.#entries.get(key) === created) this.#entries.delete(key);
        },
      );
      entry = created;
    }
    entry.inFlight++;
    const held = entry;
    try {
      const session = await held.opening;
      let released = false;
      return {
        session,
        release: () => {
          if (released) return;
          released = true;
          held.inFlight--;
          held.lastUsed = Date.now();
        },
      };
    } catch (error) {
      held.inFlight--;
      throw error;
    }
  }

  async #open(token: string, target: string, client: { address: string; application?: string }) {
    const principal = await this.gate.authenticate(token);
    return this.gate.openSession({ principal, target, protocol: this.options.protocolOf(target), client });
  }

  /** Ends sessions idle for longer than idleMs (nothing in flight, no pending approval or live grant). */
  async sweep(now = Date.now()): Promise<void> {
    const ending: Promise<void>[] = [];
    for (const entry of this.#entries.values()) {
      const session = entry.session;
      if (!session || entry.inFlight > 0 || now - entry.lastUsed < this.options.idleMs) continue;
      if (session.pendingApprovals.size > 0) continue;
      if ([...session.grants.values()].some((grant) => grant.until > now)) continue;
      this.#entries.delete(entry.key);
      ending.push(this.#end(entry, "idle"));
    }
    await Promise.all(ending);
  }

  /** Ends every session (pending approvals are cancelled by the gate). */
  async closeAll(reason: string): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(entries.map((entry) => this.#end(entry, reason)));
  }

  get size(): number {
    return this.#entries.size;
  }

  async #end(entry: Entry, reason: string): Promise<void> {
    const session = await entry.opening.catch(() => null);
    if (!session) return;
    await this.gate
      .closeSession(session, reason)
      .catch((error) =>
        this.options.log.warn({ err: error, sessionId: session.sessionId }, "session end not recorded"),
      );
  }
}

function oidcExpiry(token: string): number {
  if (isGatewayCredential(token)) return Number.POSITIVE_INFINITY;
  try {
    const exp = decodeJwt(token).exp;
    return typeof exp === "number" ? exp * 1000 : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}
