import { createHash } from "node:crypto";
import { setMaxListeners } from "node:events";
import { decodeJwt } from "jose";
import { SluiceError } from "../../errors.ts";
import type { Gate, Session } from "../../gate/gate.ts";
import { isGatewayCredential } from "../../identity/gateway-token.ts";
import type { Logger } from "../../log.ts";
import { CredentialEnded } from "./revocation.ts";

/**
 * HTTP has no connection-long session, so one is kept per bearer token and target: the first
 * request authenticates and opens it (SessionStarted), later requests with the same token reuse
 * it, and it ends (SessionEnded) after `idleMs` with no request in flight, no approval pending
 * and no approval grant still usable. Approval grants with `reuseWithin` live in the session,
 * so an identical retry with the same token after a 202 runs once its approval is granted.
 * A gateway credential is checked again by the gate at every request (revocation, expiry); an
 * OIDC token's expiry is checked here, and an expired one opens no session. When a gateway
 * credential is revoked or expires, the session's `cut` signal fires: exchanges in flight end,
 * later requests with that token get 401, and the session ends once nothing is in flight.
 */

interface Entry {
  key: string;
  opening: Promise<Session>;
  session: Session | null;
  inFlight: number;
  lastUsed: number;
  /** OIDC tokens: their `exp` in ms (gateway credentials are checked by the gate). */
  expiresAt: number;
  /** Fires with a CredentialEnded when the session's gateway credential is revoked or expires. */
  cut: AbortController;
  expiry?: NodeJS.Timeout;
  /** SessionEnded being recorded (once). */
  ending?: Promise<void>;
}

export interface Lease {
  readonly session: Session;
  /** Aborts (reason: CredentialEnded) when the credential is revoked or expires. */
  readonly cut: AbortSignal;
  /** The credential's end if it has ended, checking its expiry time too (timers fire late). */
  credentialEnded(): CredentialEnded | null;
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
    if (entry?.cut.signal.aborted) {
      // The credential ended: its token is refused with the reason, as an in-flight request was.
      throw new SluiceError("UNAUTHENTICATED", (entry.cut.signal.reason as CredentialEnded).message);
    }
    if (!entry) {
      const created: Entry = {
        key,
        opening: this.#open(token, target, client),
        session: null,
        inFlight: 0,
        lastUsed: now,
        expiresAt: oidcExpiry(token),
        cut: new AbortController(),
      };
      // Every request in flight on this session listens for the cut: no listener limit applies.
      setMaxListeners(0, created.cut.signal);
      this.#entries.set(key, created);
      created.opening.then(
        (session) => {
          created.session = session;
          this.#follow(created, session);
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
        cut: held.cut.signal,
        credentialEnded: () => {
          const state = session.watch?.state();
          if (state?.status === "active" && Date.parse(state.expiresAt) <= Date.now())
            this.#cut(held, session, "expired");
          return held.cut.signal.aborted ? (held.cut.signal.reason as CredentialEnded) : null;
        },
        release: () => {
          if (released) return;
          released = true;
          held.inFlight--;
          held.lastUsed = Date.now();
          if (held.inFlight === 0 && held.cut.signal.aborted)
            void this.#end(held, (held.cut.signal.reason as CredentialEnded).message);
        },
      };
    } catch (error) {
      held.inFlight--;
      throw error;
    }
  }

  /** Follows the session's credential: revocation (its stream) and expiry (a timer, as the other proxies do). */
  #follow(entry: Entry, session: Session): void {
    const watch = session.watch;
    if (!watch) return;
    watch.onChange((state) => {
      if (state.status !== "active") this.#cut(entry, session, state.status);
    });
    const state = watch.state();
    if (state.status !== "active") {
      this.#cut(entry, session, state.status);
      return;
    }
    const left = Math.min(Math.max(Date.parse(state.expiresAt) - Date.now(), 0), 2 ** 31 - 1);
    entry.expiry = setTimeout(() => this.#cut(entry, session, "expired"), left);
    entry.expiry.unref();
  }

  /** Ends what uses the credential: in-flight exchanges now, the session once they are recorded. */
  #cut(entry: Entry, session: Session, status: "revoked" | "expired" | "none"): void {
    if (entry.cut.signal.aborted) return;
    clearTimeout(entry.expiry);
    const ended = new CredentialEnded(session.principal.credential?.credentialId ?? "?", status);
    this.options.log.info(
      { sessionId: session.sessionId, credentialId: ended.credentialId, inFlight: entry.inFlight },
      "http session ending: its credential is no longer valid",
    );
    entry.cut.abort(ended);
    if (entry.inFlight === 0) void this.#end(entry, ended.message);
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
      // A session whose credential ended keeps nothing worth waiting for.
      if (!entry.cut.signal.aborted) {
        if (session.pendingApprovals.size > 0) continue;
        if ([...session.grants.values()].some((grant) => grant.until > now)) continue;
      }
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

  /** Records SessionEnded once per entry (a cut credential, the sweep and closeAll may all ask). */
  #end(entry: Entry, reason: string): Promise<void> {
    entry.ending ??= this.#close(entry, reason);
    return entry.ending;
  }

  async #close(entry: Entry, reason: string): Promise<void> {
    clearTimeout(entry.expiry);
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
