import type { SqlClassification } from "../../gate/classify/sql.ts";
import { hasSideEffects } from "../../gate/classify/sql-functions.ts";
import { parseSql } from "../../gate/classify/sql-parse.ts";
import { unwrap } from "../../gate/classify/sql-tree.ts";
import {
  effectivePath,
  searchPathSchemas,
  searchPathSetting,
  UNKNOWN_SEARCH_PATH,
} from "./catalog-search-path.ts";
import type { Conversation } from "./conversation.ts";
import { BUILTIN_NAMES } from "./lineage/functions.ts";
import type { NameContext, StatementInfo } from "./result-plan.ts";
import { PROBE_MESSAGES, type ProbeAnswer, ProbeReply } from "./search-path-probe.ts";

/**
 * What a statement text may do to the session's search_path, as bits: CHANGE it (or what
 * "$user" means); END a transaction (undoing changes made in it, SET LOCAL included); CALL
 * functions that are not surely built in — the catalog tells whether any is user code, which
 * may change the path (StatementInfo.callsUserCode), else `callsOnlyBuiltins` guesses.
 */
export type PathEffect = number;
export const NO_EFFECT = 0;
export const CHANGE = 1;
export const END = 2;
export const CALLS = 4;
/** With CALLS: the calls are a cursor's query, run again by every FETCH if they turn out to be user code. */
export const DECLARES = 8;

/** Statements that run code the parser cannot see into: any of it may call set_config. */
const RUNS_HIDDEN_CODE = new Set(["do", "call"]);
/** A cursor's query runs at FETCH and MOVE, not at DECLARE. */
const RUNS_CURSOR = new Set(["fetch", "move"]);
const ENDS_TRANSACTION = new Set(["commit", "rollback", "rollback_to", "prepare_transaction"]);
/** Settings whose change moves name resolution: the path itself, and the role "$user" stands for. */
const PATH_SETTINGS = new Set(["search_path", "role", "session_authorization"]);
/** Built-ins often called that neither lineage's list nor the side-effect list names. */
const MORE_BUILTINS = new Set(["pg_sleep", "current_setting", "pg_is_in_recovery", "pg_current_xact_id"]);

/**
 * The agent session's search_path as the upstream last reported it (see search-path-probe.ts),
 * and whether a statement forwarded since may have changed it. Lineage resolves names with
 * `current()`: the real path, or — while a change is not yet re-read, or the probe failed — a
 * path that resolves nothing, so the masking profile masks or denies (fail closed).
 *
 * Seen: SET/RESET search_path, role or session authorization (any scope), RESET ALL, DISCARD
 * ALL, set_config, dynamic SQL (EXECUTE, query_to_xml, …), DO, CALL, user functions a
 * statement calls (views' included, when a masking profile applies), and the end of a
 * transaction in which any of these ran. Not seen: code already in the database that a
 * statement reaches without naming it (a trigger, a rule, a row-level security policy).
 */
export class SessionSearchPath {
  private path: string | null = null;
  /** Unqualified names of built-ins resolve to pg_catalog's (the path does not place it later). */
  private builtinsFirst = false;
  /** A statement that may change the path went upstream since the last probe. */
  stale = false;
  /** ...and it ran in the current transaction, whose end may undo it. */
  private touched = false;
  /** A cursor was declared over user code: fetching from it runs that. */
  private cursorCalls = false;

  constructor(initial: ProbeAnswer | null) {
    this.learn(initial, "I");
  }

  /** The search_path to resolve a statement's names with (see PgCatalog.lookupFor). */
  current(): string {
    return this.stale || this.path === null ? UNKNOWN_SEARCH_PATH : this.path;
  }

  /** What the statement text may do to the path (PathEffect bits); `sql` is its classification. */
  effectOf(text: string, sql: SqlClassification): PathEffect {
    if (!sql.parsed) return NO_EFFECT; // the upstream refuses it as well
    let effect = NO_EFFECT;
    for (const s of sql.statements) {
      const kind = s.kind;
      if (RUNS_HIDDEN_CODE.has(kind)) return CHANGE;
      for (const flag of s.flags)
        if (flag === "set_role" || flag === "set_session_authorization" || flag === "dynamic_sql")
          return CHANGE;
      if ((kind === "set" || kind === "reset") && setsPath(text)) return CHANGE;
      if (this.cursorCalls && RUNS_CURSOR.has(kind)) return CHANGE;
      for (const name of s.functions) {
        if (name === "set_config" || name.endsWith(".set_config")) return CHANGE;
        if (name.startsWith("pg_catalog.") && name.indexOf(".", 11) < 0) continue;
        effect |= kind === "declare_cursor" ? CALLS | DECLARES : CALLS;
      }
      if (ENDS_TRANSACTION.has(kind)) effect |= END;
    }
    return effect;
  }

  /** Asks the upstream (idle, not in a failed transaction block) for the path; its answer is swallowed. */
  async reread(conv: Conversation, send: (raw: Buffer) => void): Promise<void> {
    const reply = new ProbeReply();
    conv.units.push({ kind: "probe", reply, swallow: true });
    send(PROBE_MESSAGES);
    await reply.finished;
    this.learn(reply.answer, reply.status);
  }

  /** Without the catalog's word: whether every function the statement calls is surely a built-in. */
  private callsOnlyBuiltins(sql: SqlClassification): boolean {
    if (!this.builtinsFirst) return false;
    for (const s of sql.statements)
      for (const name of s.functions)
        if (!name.startsWith("pg_catalog.") && !isCommonBuiltin(name)) return false;
    return true;
  }

  /**
   * How a text's names resolve. A statement's names resolve before it runs, so only a text of
   * several statements can use a path it changes itself: it resolves none.
   */
  names(effect: PathEffect, sql: SqlClassification): NameContext {
    const searchPath = effect & CHANGE && sql.statements.length > 1 ? UNKNOWN_SEARCH_PATH : this.current();
    return { searchPath, sql, checkCalls: (effect & CALLS) !== 0 };
  }

  /**
   * A statement with these effects was forwarded upstream. Its function calls are a change
   * when the catalog found user code among them (`info`, when a masking profile had the
   * statement prepared), or without that word, unless every name is surely a built-in.
   */
  forwarded(effect: PathEffect, sql: SqlClassification, info: StatementInfo | null): void {
    const userCode = info
      ? info.callsUserCode === true
      : (effect & CALLS) !== 0 && !this.callsOnlyBuiltins(sql);
    if (userCode) effect |= CHANGE;
    if (effect & CHANGE) {
      this.stale = true;
      this.touched = true;
      if (effect & DECLARES) this.cursorCalls = true;
    } else if (effect & END && this.touched) this.stale = true;
  }

  /** A probe answered (null: it failed, the path stays unknown until the next change); `status` after it. */
  learn(answer: ProbeAnswer | null, status: "I" | "T" | "E" | undefined): void {
    this.stale = false;
    if (status === "I") this.touched = false;
    if (!answer) {
      this.path = null;
      this.builtinsFirst = false;
      return;
    }
    const schemas = searchPathSchemas(answer.setting, answer.user);
    this.path = searchPathSetting(schemas);
    this.builtinsFirst = effectivePath(schemas)[0] === "pg_catalog";
  }
}

function isCommonBuiltin(name: string): boolean {
  return BUILTIN_NAMES.has(name) || MORE_BUILTINS.has(name) || hasSideEffects(name);
}

/** Whether a text with SET or RESET statements sets the path, the role, or resets everything. */
function setsPath(text: string): boolean {
  for (const raw of parseSql(text).stmts ?? []) {
    const node = unwrap(raw.stmt);
    if (node?.[0] !== "VariableSetStmt") continue;
    const fields = node[1];
    if (fields.kind === "VAR_RESET_ALL" || PATH_SETTINGS.has(String(fields.name ?? ""))) return true;
  }
  return false;
}
