import type { PolicySnapshot } from "../../domain/policy/decide.ts";
import { classifySql } from "../../gate/classify/sql.ts";
import type { Gate, Session, Verdict } from "../../gate/gate.ts";
import type { CompiledProfile } from "../../gate/masking/profile.ts";
import { maskingProfile } from "../../gate/masking/profiles.ts";
import type { Logger } from "../../log.ts";
import type { FieldDescription } from "./codec/backend.ts";
import { CommandRun, rowsOfTag } from "./command-run.ts";
import type { ResultPlanner, StatementInfo } from "./result-plan.ts";
import type { ProbeReply } from "./search-path-probe.ts";

export type Status = "I" | "T" | "E";

/** A command the upstream is answering: what it is, and how its rows are masked and recorded. */
export interface Run {
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
export type Unit =
  | { kind: "parse" | "bind" | "close" | "sync"; swallow: boolean }
  | { kind: "describe"; target: "S" | "P"; name: string; swallow: boolean }
  | { kind: "query"; current: Run; swallow: false }
  | { kind: "execute"; current: Run; portal: string; swallow: false }
  /** Sluice's own search_path probe (Close, Close, Parse, Bind, Execute, Sync): answered up to its ReadyForQuery. */
  | { kind: "probe"; reply: ProbeReply; swallow: true };

export interface Statement {
  text: string;
  /** From a Describe: undefined until known, null for statements that return no rows. */
  fields?: FieldDescription[] | null;
}

export interface Portal {
  text: string;
  params: (string | null)[];
  resultFormats: number[];
  fields?: FieldDescription[] | null;
}

/**
 * The state both directions of a PostgreSQL session share: prepared statements and portals
 * as the client defined them, what the upstream still owes (in order), the transaction status,
 * and the recording of each command run.
 */
export class Conversation {
  status: Status;
  readonly statements = new Map<string, Statement>();
  readonly portals = new Map<string, Portal>();
  readonly units: Unit[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(
    status: Status,
    private readonly gate: Gate,
    private readonly session: Session,
    private readonly policy: () => PolicySnapshot | null,
    private readonly planner: ResultPlanner,
    private readonly outputBudget: number,
    private readonly log: Logger,
  ) {
    this.status = status;
  }

  newRun(commandId: string, verdict: Verdict | null, text = ""): Run {
    const masking = verdict?.kind === "allow" ? verdict.masking : undefined;
    return {
      run: new CommandRun(commandId, this.outputBudget),
      profile: maskingProfile(this.policy(), masking),
      info: null,
      statement: 0,
      refusal: false,
      ddl: text ? changesSchema(text) : false,
      text,
    };
  }

  shift(): Unit | undefined {
    const unit = this.units.shift();
    if (unit?.kind === "query") this.record(unit.current);
    if (this.units.length === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
    return unit;
  }

  /** Resolves once the upstream owes nothing more (see atBoundary: never wait on an unfinished batch). */
  idle(): Promise<void> {
    if (this.units.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Whether everything sent upstream ends in a ReadyForQuery, so the upstream becomes idle without more client input. */
  atBoundary(): boolean {
    const last = this.units[this.units.length - 1];
    return last === undefined || last.kind === "query" || last.kind === "sync" || last.kind === "probe";
  }

  /** CommandCompleted for a run that ended (refusals are recorded when refused). */
  record(current: Run): void {
    const { run } = current;
    if (current.refusal && run.status !== "denied" && run.status !== "cancelled") return;
    if (current.ddl && run.status === "ok") this.planner.invalidate();
    const rows = run.tag ? rowsOfTag(run.tag) : undefined;
    if (rows !== undefined && run.rows === 0) run.rows = rows;
    this.gate.complete(this.session, run.commandId, run.outcome()).catch((error: Error) => {
      this.log.error({ err: error, sessionId: this.session.sessionId }, "CommandCompleted not recorded");
    });
  }
}

const SCHEMA_FLAGS = new Set(["ddl", "alter", "drop"]);

function changesSchema(text: string): boolean {
  return classifySql(text).flags.some((flag) => SCHEMA_FLAGS.has(flag));
}
