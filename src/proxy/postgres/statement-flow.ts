import { randomUUID } from "node:crypto";
import type { ClassifiedCommand } from "../../domain/policy/command.ts";
import { classifySql, type SqlClassification } from "../../gate/classify/sql.ts";
import type { Session, Verdict } from "../../gate/gate.ts";
import type { CompiledProfile } from "../../gate/masking/profile.ts";
import { maskingProfile } from "../../gate/masking/profiles.ts";
import { findTarget, type ProxyContext } from "../context.ts";
import type { FieldDescription } from "./codec/backend.ts";
import * as up from "./codec/client-messages.ts";
import type { FrontendMessage } from "./codec/frontend.ts";
import { noticeResponse } from "./codec/server-messages.ts";
import type { Conversation, Run } from "./conversation.ts";
import { refusalMessages, refusalQuery } from "./refusal.ts";
import type { NameContext, ResultPlanner, StatementInfo } from "./result-plan.ts";
import type { SessionSearchPath } from "./search-path.ts";

interface Early {
  profile: CompiledProfile;
  info: Promise<StatementInfo | { deny: string }>;
}

/** Client messages before which a stale search_path is re-read: those that start or continue a batch. */
const PROBE_BEFORE = new Set<FrontendMessage["type"]>([
  "query",
  "parse",
  "bind",
  "describe",
  "execute",
  "close",
  "sync",
]);

/** What the statement flow may do to the connection it serves. */
export interface Lifecycle {
  end(reason: string): void;
  fatal(sqlstate: string, message: string): void;
  closed(): boolean;
}

/**
 * Client → upstream: forwards protocol messages, and asks the gate about each statement at the
 * point it would run — a simple Query as a whole, an Execute with its Parse text and Bind
 * values — then forwards it, holds it with a notice, or has the upstream refuse it.
 */
export class StatementFlow {
  private hold: AbortController | null = null;

  constructor(
    private readonly conv: Conversation,
    private readonly session: Session,
    private readonly context: ProxyContext,
    private readonly planner: ResultPlanner,
    private readonly path: SessionSearchPath,
    private readonly upstream: (raw: Buffer) => void,
    private readonly client: (raw: Buffer) => void,
    private readonly life: Lifecycle,
  ) {}

  /** Ends a wait for approval (the agent sent a CancelRequest); false when nothing is held. */
  cancelHold(): boolean {
    if (!this.hold) return false;
    this.hold.abort();
    return true;
  }

  /** Forwards or handles one client message; returns a promise when the gate (or the upstream) must be asked first. */
  handle(m: FrontendMessage): Promise<void> | undefined {
    // Mid-batch (no Sync yet) the upstream cannot be asked: statements there resolve no names until the Sync.
    if (this.path.stale && PROBE_BEFORE.has(m.type) && this.conv.atBoundary()) return this.probeFirst(m);
    return this.route(m);
  }

  /**
   * A statement that may have changed the search_path went upstream: once the upstream is idle,
   * ask it for the path (its answer is swallowed), then go on with the message held. Inside a
   * failed transaction block the probe would fail too: the path stays unknown until the block ends.
   */
  private async probeFirst(m: FrontendMessage): Promise<void> {
    await this.conv.idle();
    if (this.life.closed()) return;
    if (this.conv.status !== "E") await this.path.reread(this.conv, this.upstream);
    if (this.life.closed()) return;
    await this.route(m);
  }

  private route(m: FrontendMessage): Promise<void> | undefined {
    const send = this.upstream;
    switch (m.type) {
      case "query":
        return this.runQuery(m.text, m.raw);
      case "parse":
        this.conv.statements.set(m.name, { text: m.text });
        this.conv.units.push({ kind: "parse", swallow: false });
        send(m.raw);
        return;
      case "bind": {
        const statement = this.conv.statements.get(m.statement);
        this.conv.portals.set(m.portal, {
          text: statement?.text ?? "",
          params: m.params.map((p, i) => paramText(p, m.paramFormats, i)),
          resultFormats: m.resultFormats,
          fields:
            statement?.fields === undefined ? undefined : withFormats(statement.fields, m.resultFormats),
        });
        this.conv.units.push({ kind: "bind", swallow: false });
        send(m.raw);
        return;
      }
      case "describe":
        this.conv.units.push({ kind: "describe", target: m.kind, name: m.name, swallow: false });
        send(m.raw);
        return;
      case "execute":
        return this.runExecute(m.portal, m.raw);
      case "close":
        if (m.kind === "S") this.conv.statements.delete(m.name);
        else this.conv.portals.delete(m.name);
        this.conv.units.push({ kind: "close", swallow: false });
        send(m.raw);
        return;
      case "sync":
        this.conv.units.push({ kind: "sync", swallow: false });
        send(m.raw);
        return;
      case "flush":
        send(m.raw);
        return;
      case "copyData":
      case "copyDone":
      case "copyFail":
        // Outside COPY FROM STDIN the server ignores these, as PostgreSQL does.
        send(m.raw);
        return;
      case "terminate":
        // Answers to statements pipelined before it are still owed, as PostgreSQL would send them.
        if (this.conv.units.length > 0 && this.conv.atBoundary())
          return this.conv.idle().then(() => this.terminate(m.raw));
        this.terminate(m.raw);
        return;
      case "functionCall":
        // The fast-path interface calls any function by OID, past statement policy.
        return this.refuseLocally(
          "42501",
          "Sluice refuses the function-call protocol: run the function in a statement",
        );
      default:
        this.life.fatal("08P01", `unexpected ${m.type} message after login`);
        return;
    }
  }

  private terminate(raw: Buffer): void {
    this.upstream(raw);
    this.life.end("client terminated the session");
  }

  private async runQuery(text: string, raw: Buffer): Promise<void> {
    const sql = classifySql(text);
    const effect = this.path.effectOf(text, sql);
    const names = this.path.names(effect, sql);
    const early = this.prepareEarly(text, names);
    const verdict = await this.decide(text, sql, undefined);
    if (!verdict) return;
    const current = this.conv.newRun(verdict.commandId, verdict, text);
    if (verdict.kind === "deny") return this.refuse(current, "query", verdict.reason, verdict.rule);
    const info = await this.prepared(text, current, early, names);
    if (info && "deny" in info) return this.refuse(current, "query", info.deny, verdict.rule);
    current.info = info;
    this.conv.units.push({ kind: "query", current, swallow: false });
    this.path.forwarded(effect, sql, info);
    this.upstream(raw);
  }

  private async runExecute(portalName: string, raw: Buffer): Promise<void> {
    const portal = this.conv.portals.get(portalName);
    if (!portal) {
      // The upstream answers with its own error (portal does not exist); nothing runs.
      const current = this.conv.newRun(randomUUID(), null);
      this.conv.units.push({ kind: "execute", current, portal: portalName, swallow: false });
      this.upstream(raw);
      return;
    }
    const sql = classifySql(portal.text);
    const effect = this.path.effectOf(portal.text, sql);
    const names = this.path.names(effect, sql);
    const early = this.prepareEarly(portal.text, names);
    const verdict = await this.decide(portal.text, sql, portal.params);
    if (!verdict) return;
    const current = this.conv.newRun(verdict.commandId, verdict, portal.text);
    if (verdict.kind === "deny") return this.refuse(current, "execute", verdict.reason, verdict.rule);
    const info = await this.prepared(portal.text, current, early, names);
    if (info && "deny" in info) return this.refuse(current, "execute", info.deny, verdict.rule);
    current.info = info;
    if (current.profile && portal.fields === undefined) {
      // Rows of an Execute carry no RowDescription: learn the columns first, without the agent seeing it.
      this.conv.units.push({ kind: "describe", target: "P", name: portalName, swallow: true });
      this.upstream(up.describe("P", portalName));
    }
    this.conv.units.push({ kind: "execute", current, portal: portalName, swallow: false });
    this.path.forwarded(effect, sql, info);
    this.upstream(raw);
  }

  /**
   * Lineage work for the target's own masking profile starts before the decision, so it runs
   * while the decision is being made durable; the verdict usually names that same profile.
   */
  private prepareEarly(text: string, names: NameContext): Early | undefined {
    const policy = this.context.policy();
    let profile: CompiledProfile | null = null;
    try {
      profile = maskingProfile(policy, findTarget(policy, this.session.target)?.masking);
    } catch {
      return undefined; // an undefined profile is refused once the verdict names it
    }
    if (!profile) return undefined;
    const info = this.planner.prepare(text, profile, names);
    info.catch(() => {}); // awaited (and its failure reported) only if the verdict uses it
    return { profile, info };
  }

  private prepared(
    text: string,
    current: Run,
    early: Early | undefined,
    names: NameContext,
  ): Promise<StatementInfo | { deny: string } | null> {
    if (!current.profile) return Promise.resolve(null);
    if (early && early.profile === current.profile) return early.info;
    return this.planner.prepare(text, current.profile, names);
  }

  /** The gate's verdict, waiting out a hold; null when the session ended meanwhile. */
  private async decide(
    text: string,
    sql: SqlClassification,
    params: (string | null)[] | undefined,
  ): Promise<Extract<Verdict, { kind: "allow" | "deny" }> | null> {
    const command: ClassifiedCommand = { protocol: "postgres", text, sql };
    const verdict = await this.context.gate.decide(this.session, command, params);
    if (verdict.kind !== "hold") return verdict;
    this.client(
      noticeResponse({
        severity: "NOTICE",
        code: "01000",
        message: `Sluice: this statement needs approval (rule ${verdict.rule}); approval ${verdict.approvalId} is pending — waiting`,
        hint: `an approver runs: sluice approvals approve ${verdict.approvalId}`,
      }),
    );
    this.hold = new AbortController();
    try {
      const outcome = await verdict.wait(this.hold.signal);
      if (this.life.closed()) return null;
      if (outcome.kind === "deny" && this.hold.signal.aborted)
        return {
          ...outcome,
          reason: "canceling statement due to user request (it was waiting for approval)",
        };
      return outcome;
    } finally {
      this.hold = null;
    }
  }

  /** Refused: the upstream raises the error in the statement's place (see refusal.ts), and the refusal is recorded. */
  private refuse(current: Run, kind: "query" | "execute", reason: string, rule: string | null): void {
    const cancelled = reason.startsWith("canceling statement");
    const sqlstate = cancelled ? "57014" : "42501";
    const message = cancelled
      ? reason
      : `Sluice denied this statement${rule ? ` (rule ${rule})` : ""}: ${reason}`;
    current.refusal = true;
    current.run.status = cancelled ? "cancelled" : "denied";
    this.conv.record(current);
    if (kind === "query") {
      this.conv.units.push({ kind: "query", current, swallow: false });
      this.upstream(refusalQuery(sqlstate, message));
      return;
    }
    const [close, parse, bind, execute] = refusalMessages(sqlstate, message);
    this.conv.units.push(
      { kind: "close", swallow: true },
      { kind: "parse", swallow: true },
      { kind: "bind", swallow: true },
    );
    this.conv.units.push({ kind: "execute", current, portal: "sluice_refusal", swallow: false });
    this.upstream(close as Buffer);
    this.upstream(parse as Buffer);
    this.upstream(bind as Buffer);
    this.upstream(execute as Buffer);
  }

  /** A refusal for messages outside statement policy: answered like the server would, after a Sync. */
  private async refuseLocally(sqlstate: string, message: string): Promise<void> {
    const current = this.conv.newRun(randomUUID(), null);
    current.refusal = true;
    this.conv.units.push({ kind: "query", current, swallow: false });
    this.upstream(refusalQuery(sqlstate, message));
  }
}

/** A Bind parameter as recorded: text as is, binary as hex. */
function paramText(value: Buffer | null, formats: number[], index: number): string | null {
  if (value === null) return null;
  const format = formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : formats[index];
  return format === 1 ? `\\x${value.toString("hex")}` : value.toString("utf8");
}

/** Statement-level fields (formats unknown at Describe S) with the Bind's result formats applied. */
function withFormats(fields: FieldDescription[] | null, formats: number[]): FieldDescription[] | null {
  if (!fields) return null;
  return fields.map((field, i) => ({
    ...field,
    format: formats.length === 0 ? 0 : formats.length === 1 ? (formats[0] as number) : (formats[i] ?? 0),
  }));
}
