import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import type { ClassifiedCommand } from "../../domain/policy/command.ts";
import { classifySql } from "../../gate/classify/sql.ts";
import type { Session, Verdict } from "../../gate/gate.ts";
import type { CompiledProfile } from "../../gate/masking/profile.ts";
import { maskingProfile } from "../../gate/masking/profiles.ts";
import type { ProxyContext } from "../context.ts";
import {
  type BackendFrame,
  decodeCommandComplete,
  decodeFields,
  decodeReadyForQuery,
  decodeRowDescription,
  type FieldDescription,
} from "./codec/backend.ts";
import * as up from "./codec/client-messages.ts";
import { B } from "./codec/codes.ts";
import { PgProtocolError } from "./codec/errors.ts";
import type { FrontendMessage, FrontendReader } from "./codec/frontend.ts";
import { errorResponse, noticeResponse } from "./codec/server-messages.ts";
import { CommandRun, rowsOfTag } from "./command-run.ts";
import type { PostgresProxyConfig } from "./config.ts";
import { maskServerMessage } from "./error-masking.ts";
import { refusalMessages, refusalQuery } from "./refusal.ts";
import type { ResultPlanner, StatementInfo } from "./result-plan.ts";
import { ResultStream } from "./result-stream.ts";
import type { UpstreamConnection } from "./upstream.ts";

type Status = "I" | "T" | "E";

/** A command the upstream is answering: what it is, and how its rows are masked and recorded. */
interface Run {
  run: CommandRun;
  profile: CompiledProfile | null;
  info: StatementInfo | null;
  /** Simple protocol: the index of the statement whose results are arriving. */
  statement: number;
  /** A refusal raised upstream on purpose: its error is the denial, not a failure of the command. */
  refusal: boolean;
  /** Changes the schema: the catalog's cached origins and view definitions are dropped when it completes. */
  ddl: boolean;
  /** The statement as the agent sent it (values it quotes are its own, not the database's). */
  text: string;
}

/** What the upstream owes for one message sent to it, in order. `swallow`: Sluice sent it, the agent must not see the answer. */
type Unit =
  | { kind: "parse" | "bind" | "close" | "sync"; swallow: boolean }
  | { kind: "describe"; target: "S" | "P"; name: string; swallow: boolean; sawParameters?: boolean }
  | { kind: "query"; current: Run; swallow: false }
  | { kind: "execute"; current: Run; portal: string; swallow: false };

interface Statement {
  text: string;
  /** From a Describe: undefined until known, null for statements that return no rows. */
  fields?: FieldDescription[] | null;
}

interface Portal {
  text: string;
  params: (string | null)[];
  resultFormats: number[];
  fields?: FieldDescription[] | null;
}

const EXTENDED_RESPONSE_KINDS = new Set(["parse", "bind", "close", "describe", "execute"]);

/**
 * One agent connection after login: relays the protocol both ways, asks the gate about every
 * statement at the point it would run (a simple Query as a whole, an extended Execute with its
 * Parse text and Bind values), holds, refuses or forwards it, and masks and records results.
 * The engine speaks the protocol; the gate records; masking follows the verdict's profile.
 */
export class PgProxySession {
  private status: Status;
  private readonly statements = new Map<string, Statement>();
  private readonly portals = new Map<string, Portal>();
  private readonly units: Unit[] = [];
  private readonly inbox: FrontendMessage[] = [];
  private busy = false;
  private closed = false;
  private readonly results: ResultStream;
  private readonly frames: BackendFrame[] = [];
  private frameAt = 0;
  private upstreamBlocked = false;
  private hold: AbortController | null = null;
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
    private readonly config: PostgresProxyConfig,
    private readonly planner: ResultPlanner,
  ) {
    this.status = upstream.status;
    this.results = new ResultStream(planner);
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
    if (!this.hold) return false;
    this.hold.abort();
    return true;
  }

  /** Ends the session from the gateway side (shutdown, credential revoked or expired), telling the client why. */
  terminate(message: string): void {
    if (this.closed) return;
    this.client.write(errorResponse({ severity: "FATAL", code: "57P01", message }));
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
    upstream.cork();
    try {
      while (!this.busy && !this.closed && this.inbox.length > 0) {
        const message = this.inbox.shift() as FrontendMessage;
        const pending = this.onClientMessage(message);
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
    } finally {
      upstream.uncork();
    }
    if (upstream.writableNeedDrain && !this.closed) {
      this.client.pause();
      upstream.once("drain", () => this.client.resume());
    }
  }

  /** Forwards or handles one client message; returns a promise when the gate must be asked first. */
  private onClientMessage(m: FrontendMessage): Promise<void> | undefined {
    const send = (raw: Buffer) => this.upstream.socket.write(raw);
    switch (m.type) {
      case "query":
        return this.runQuery(m.text, m.raw);
      case "parse":
        this.statements.set(m.name, { text: m.text });
        this.units.push({ kind: "parse", swallow: false });
        send(m.raw);
        return;
      case "bind": {
        const statement = this.statements.get(m.statement);
        this.portals.set(m.portal, {
          text: statement?.text ?? "",
          params: m.params.map((p, i) => paramText(p, m.paramFormats, i)),
          resultFormats: m.resultFormats,
          fields:
            statement?.fields === undefined ? undefined : withFormats(statement.fields, m.resultFormats),
        });
        this.units.push({ kind: "bind", swallow: false });
        send(m.raw);
        return;
      }
      case "describe":
        this.units.push({ kind: "describe", target: m.kind, name: m.name, swallow: false });
        send(m.raw);
        return;
      case "execute":
        return this.runExecute(m.portal, m.raw);
      case "close":
        if (m.kind === "S") this.statements.delete(m.name);
        else this.portals.delete(m.name);
        this.units.push({ kind: "close", swallow: false });
        send(m.raw);
        return;
      case "sync":
        this.units.push({ kind: "sync", swallow: false });
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
        send(m.raw);
        this.end("client terminated the session");
        return;
      case "functionCall":
        // The fast-path interface calls any function by OID, past statement policy.
        return this.refuseLocally(
          "42501",
          "Sluice refuses the function-call protocol: run the function in a statement",
        );
      default:
        this.fatal("08P01", `unexpected ${m.type} message after login`);
        return;
    }
  }

  private async runQuery(text: string, raw: Buffer): Promise<void> {
    const verdict = await this.decide(text, undefined);
    if (!verdict) return;
    const current = this.newRun(verdict.commandId, verdict, null);
    current.ddl = changesSchema(text);
    current.text = text;
    if (verdict.kind === "deny") return this.refuse(current, "query", verdict.reason, verdict.rule);
    const info = current.profile ? await this.planner.prepare(text, current.profile) : null;
    if (info && "deny" in info) return this.refuse(current, "query", info.deny, verdict.rule);
    current.info = info;
    this.units.push({ kind: "query", current, swallow: false });
    this.upstream.socket.write(raw);
  }

  private async runExecute(portalName: string, raw: Buffer): Promise<void> {
    const portal = this.portals.get(portalName);
    if (!portal) {
      // The upstream answers with its own error (portal does not exist); nothing runs.
      const current = this.newRun(randomUUID(), null, null);
      this.units.push({ kind: "execute", current, portal: portalName, swallow: false });
      this.upstream.socket.write(raw);
      return;
    }
    const verdict = await this.decide(portal.text, portal.params);
    if (!verdict) return;
    const current = this.newRun(verdict.commandId, verdict, null);
    current.ddl = changesSchema(portal.text);
    current.text = portal.text;
    if (verdict.kind === "deny") return this.refuse(current, "execute", verdict.reason, verdict.rule);
    const info = current.profile ? await this.planner.prepare(portal.text, current.profile) : null;
    if (info && "deny" in info) return this.refuse(current, "execute", info.deny, verdict.rule);
    current.info = info;
    if (current.profile && portal.fields === undefined) {
      // Rows of an Execute carry no RowDescription: learn the columns first, without the agent seeing it.
      this.units.push({ kind: "describe", target: "P", name: portalName, swallow: true });
      this.upstream.socket.write(up.describe("P", portalName));
    }
    this.units.push({ kind: "execute", current, portal: portalName, swallow: false });
    this.upstream.socket.write(raw);
  }

  /** The gate's verdict, waiting out a hold; null when the session ended meanwhile. */
  private async decide(
    text: string,
    params: (string | null)[] | undefined,
  ): Promise<Extract<Verdict, { kind: "allow" | "deny" }> | null> {
    const command: ClassifiedCommand = { protocol: "postgres", text, sql: classifySql(text) };
    const verdict = await this.context.gate.decide(this.session, command, params);
    if (verdict.kind !== "hold") return verdict;
    this.client.write(
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
      if (this.closed) return null;
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

  private newRun(commandId: string, verdict: Verdict | null, info: StatementInfo | null): Run {
    const masking = verdict?.kind === "allow" ? verdict.masking : undefined;
    return {
      run: new CommandRun(commandId, this.config.recordOutputBytes),
      profile: maskingProfile(this.context.policy(), masking),
      info,
      statement: 0,
      refusal: false,
      ddl: false,
      text: "",
    };
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
    this.record(current);
    if (kind === "query") {
      this.units.push({ kind: "query", current, swallow: false });
      this.upstream.socket.write(refusalQuery(sqlstate, message));
      return;
    }
    const [close, parse, bind, execute] = refusalMessages(sqlstate, message);
    this.units.push(
      { kind: "close", swallow: true },
      { kind: "parse", swallow: true },
      { kind: "bind", swallow: true },
    );
    this.units.push({ kind: "execute", current, portal: "sluice_refusal", swallow: false });
    this.upstream.socket.write(close as Buffer);
    this.upstream.socket.write(parse as Buffer);
    this.upstream.socket.write(bind as Buffer);
    this.upstream.socket.write(execute as Buffer);
  }

  /** A refusal for messages outside statement policy: answered like the server would, after a Sync. */
  private async refuseLocally(sqlstate: string, message: string): Promise<void> {
    const current = this.newRun(randomUUID(), null, null);
    current.refusal = true;
    this.units.push({ kind: "query", current, swallow: false });
    this.upstream.socket.write(refusalQuery(sqlstate, message));
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
    client.cork();
    try {
      while (this.frameAt < this.frames.length && !this.closed) {
        const frame = this.frames[this.frameAt++] as BackendFrame;
        const out = this.onUpstreamFrame(frame);
        if (out instanceof Promise) {
          this.upstreamBlocked = true;
          this.upstream.socket.pause();
          out
            .then((raw) => {
              if (raw) client.write(raw);
            })
            .catch((error: Error) =>
              this.fatal("XX000", `Sluice could not mask this result: ${error.message}`),
            )
            .finally(() => {
              this.upstreamBlocked = false;
              if (this.closed) return;
              this.upstream.socket.resume();
              this.pumpUpstream();
            });
          return;
        }
        if (out) client.write(out);
      }
      this.frames.length = 0;
      this.frameAt = 0;
    } finally {
      client.uncork();
    }
    if (client.writableNeedDrain && !this.closed) {
      this.upstream.socket.pause();
      client.once("drain", () => this.upstream.socket.resume());
    }
  }

  /** The bytes to pass to the client for one upstream frame (null: swallowed), or a promise of them. */
  private onUpstreamFrame(frame: BackendFrame): Buffer | null | Promise<Buffer | null> {
    const { code, raw } = frame;
    const head = this.units[0];
    switch (code) {
      case B.DataRow:
        if (this.results.open || head?.kind !== "execute") return this.results.row(raw);
        return this.beginExecuteRows(head, raw);
      case B.ParseComplete:
      case B.BindComplete:
      case B.CloseComplete:
        return this.shift()?.swallow ? null : raw;
      case B.ParameterDescription:
        return head?.swallow ? null : raw;
      case B.RowDescription:
      case B.NoData:
        return this.onDescription(head, code === B.NoData ? null : raw);
      case B.CommandComplete:
      case B.EmptyQueryResponse:
      case B.PortalSuspended:
        this.onStatementDone(head, code === B.CommandComplete ? decodeCommandComplete(raw) : undefined);
        return raw;
      case B.ErrorResponse:
        return this.onError(raw);
      case B.ReadyForQuery:
        this.status = decodeReadyForQuery(raw);
        this.shift();
        return raw;
      case B.CopyInResponse:
        return raw;
      case B.CopyOutResponse:
        return head && (head.kind === "query" || head.kind === "execute")
          ? this.results.copyOut(head.current, raw)
          : raw;
      case B.CopyData:
        return this.results.copyData(raw);
      case B.NoticeResponse:
        return this.maskMessage(head, raw);
      default:
        // NotificationResponse, ParameterStatus, CopyDone, CopyBoth: relayed as they are.
        return raw;
    }
  }

  private onDescription(head: Unit | undefined, raw: Buffer | null): Buffer | null | Promise<Buffer | null> {
    const fields = raw ? decodeRowDescription(raw) : null;
    if (head?.kind === "describe") {
      this.shift();
      if (head.target === "S") {
        const statement = this.statements.get(head.name);
        if (statement) statement.fields = fields;
      } else {
        const portal = this.portals.get(head.name);
        if (portal) portal.fields = fields;
      }
      return head.swallow ? null : raw;
    }
    if (head?.kind !== "query" || !fields || !raw) return raw;
    // Simple protocol: each result announces its columns in-band.
    const begun = this.results.begin(head.current, fields);
    return begun instanceof Promise ? begun.then(() => raw) : raw;
  }

  /** Extended protocol: the rows of an Execute follow no RowDescription; the portal's Describe told the columns. */
  private beginExecuteRows(head: Extract<Unit, { kind: "execute" }>, raw: Buffer): Buffer | Promise<Buffer> {
    const fields = this.portals.get(head.portal)?.fields ?? [];
    const begun = this.results.begin(head.current, fields);
    return begun instanceof Promise ? begun.then(() => this.results.row(raw)) : this.results.row(raw);
  }

  /** Errors and notices of a masked statement may quote row data: see error-masking.ts. */
  private maskMessage(head: Unit | undefined, raw: Buffer): Buffer {
    const current = head?.kind === "query" || head?.kind === "execute" ? head.current : null;
    const profile = current?.profile;
    if (!current || !profile) return raw;
    return maskServerMessage(raw, current.text, {
      redactQuoted: profile.hasColumnRules,
      rules: profile.contentRules,
    });
  }

  private onStatementDone(head: Unit | undefined, tag: string | undefined): void {
    if (head?.kind === "query") {
      this.results.end(head.current, tag);
      head.current.statement++;
      return;
    }
    if (head?.kind === "execute") {
      this.shift();
      this.results.end(head.current, tag);
      this.record(head.current);
    }
  }

  private onError(raw: Buffer): Buffer {
    const head = this.units[0];
    const refusal = (head?.kind === "query" || head?.kind === "execute") && head.current.refusal;
    // A refusal is raised by a DO block upstream; the agent sees only Sluice's message, not the block's context.
    const out = refusal ? refusalError(raw) : this.maskMessage(head, raw);
    if (head?.kind === "query") {
      if (!head.current.refusal) {
        const fields = decodeFields(out);
        head.current.run.status = "error";
        head.current.run.error = { code: fields.C ?? "XX000", message: fields.M ?? "" };
      }
      return out;
    }
    if (head?.kind === "execute" && !head.current.refusal) {
      const fields = decodeFields(out);
      head.current.run.status = "error";
      head.current.run.error = { code: fields.C ?? "XX000", message: fields.M ?? "" };
      this.record(head.current);
    }
    // After an error the server skips every extended message until Sync: so do its answers.
    if (head && EXTENDED_RESPONSE_KINDS.has(head.kind)) {
      while (this.units.length > 0 && this.units[0]?.kind !== "sync") this.units.shift();
    }
    return out;
  }

  private shift(): Unit | undefined {
    const unit = this.units.shift();
    if (unit?.kind === "query") this.record(unit.current);
    return unit;
  }

  /** CommandCompleted for a run that ended (refusals are recorded when refused). */
  private record(current: Run): void {
    const { run } = current;
    if (current.refusal && run.status !== "denied" && run.status !== "cancelled") return;
    if (current.ddl && run.status === "ok") this.planner.invalidate();
    const rows = run.tag ? rowsOfTag(run.tag) : undefined;
    if (rows !== undefined && run.rows === 0) run.rows = rows;
    this.context.gate.complete(this.session, run.commandId, run.outcome()).catch((error: Error) => {
      this.context.log.error(
        { err: error, sessionId: this.session.sessionId },
        "CommandCompleted not recorded",
      );
    });
  }

  // ---- ending -----------------------------------------------------------------------

  private upstreamLost(reason: string): void {
    if (this.closed) return;
    this.client.write(errorResponse({ severity: "FATAL", code: "08006", message: `Sluice: ${reason}` }));
    this.end(reason);
  }

  private fatal(sqlstate: string, message: string): void {
    if (this.closed) return;
    this.client.write(errorResponse({ severity: "FATAL", code: sqlstate, message }));
    this.end(message);
  }

  private end(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.hold?.abort();
    clearTimeout(this.expiry);
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

function refusalError(raw: Buffer): Buffer {
  const fields = decodeFields(raw);
  return errorResponse({
    severity: fields.S ?? "ERROR",
    code: fields.C ?? "42501",
    message: fields.M ?? "Sluice denied this statement",
    ...(fields.H ? { hint: fields.H } : {}),
  });
}

const SCHEMA_FLAGS = new Set(["ddl", "alter", "drop"]);

function changesSchema(text: string): boolean {
  return classifySql(text).flags.some((flag) => SCHEMA_FLAGS.has(flag));
}

/** A Bind parameter as recorded: text as is, binary as hex. */
function paramText(value: Buffer | null, formats: number[], index: number): string | null {
  if (value === null) return null;
  const format = formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : formats[index];
  return format === 1 ? `\\x${value.toString("hex")}` : value.toString("utf8");
}

/** Statement-level fields (formats unknown at Describe S) with the Bind's result formats applied. */
export function withFormats(fields: FieldDescription[] | null, formats: number[]): FieldDescription[] | null {
  if (!fields) return null;
  return fields.map((field, i) => ({
    ...field,
    format: formats.length === 0 ? 0 : formats.length === 1 ? (formats[0] as number) : (formats[i] ?? 0),
  }));
}
