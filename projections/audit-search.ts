import type Database from "better-sqlite3";
import { tagToken } from "./audit.ts";
import { StatementCache, Where } from "./sql.ts";

/** Searching the audit index (projections/audit.ts): filters, free text, newest first. */

export interface CommandRow {
  position: number;
  commandId: string;
  sessionId: string;
  atMs: number;
  subject: string;
  target: string;
  taskId: string | null;
  protocol: string;
  decision: "allow" | "deny" | "require_approval";
  rule: string | null;
  reason: string;
  policyVersion: number;
  approvalId: string | null;
  command: string;
}

export interface AuditQuery {
  subject?: string;
  target?: string;
  taskId?: string;
  decision?: "allow" | "deny" | "require_approval";
  rule?: string;
  /** SQL statement kind, SSH request, HTTP verb or method. */
  kind?: string;
  /** SQL relation (qualified or bare), SSH program, HTTP resource or path. */
  relation?: string;
  fromMs?: number;
  toMs?: number;
  /** Words of the command; `word*` matches a prefix. */
  text?: string;
  /** Keyset cursor: rows strictly older than this (time, then log position). */
  before?: { atMs: number; position: number };
  limit: number;
}

const COLUMNS = `position, command_id AS commandId, session_id AS sessionId, at_ms AS atMs, subject, target,
  task_id AS taskId, protocol, decision, rule, reason, policy_version AS policyVersion, approval_id AS approvalId,
  command`;
const DECISIONS = new Set(["allow", "deny", "require_approval"]);

export class AuditSearch {
  private readonly statements: StatementCache;

  constructor(db: Database.Database) {
    this.statements = new StatementCache(db);
  }

  search(query: AuditQuery): CommandRow[] {
    const words = query.text === undefined ? undefined : ftsQuery(query.text);
    if (words === "") return [];
    if (query.decision !== undefined && !DECISIONS.has(query.decision)) return [];
    // Words and tags in one FTS query: `command : "w"` and `tags : "x…"`, all required.
    const terms = [
      ...(words ? [`command : (${words})`] : []),
      ...(query.kind ? [`tags : "${tagToken("k", query.kind)}"`] : []),
      ...(query.relation ? [`tags : "${tagToken("r", query.relation)}"`] : []),
    ];
    const where = new Where()
      .when(query.subject, "subject = ?")
      .when(query.target, "target = ?")
      .when(query.taskId, "task_id = ?")
      // A literal, so the planner can use the partial index of the rare decisions.
      .if(query.decision !== undefined, `decision = '${query.decision}'`)
      .when(query.rule, "rule = ?")
      .when(query.fromMs, "at_ms >= ?")
      .when(query.toMs, "at_ms <= ?")
      .when(query.before, "(at_ms, position) < (?, ?)", query.before?.atMs, query.before?.position)
      .when(
        terms.length > 0 ? terms.join(" AND ") : undefined,
        "position IN (SELECT rowid FROM audit_text WHERE audit_text MATCH ?)",
      );
    return this.statements
      .get(`SELECT ${COLUMNS} FROM audit_commands ${where} ORDER BY at_ms DESC, position DESC LIMIT ?`)
      .all(...where.args, query.limit) as CommandRow[];
  }
}

/**
 * Free text as an FTS5 query: each word quoted (so nothing the user types is FTS syntax),
 * all of them required; a trailing `*` keeps its prefix meaning. "" when there is no word.
 */
export function ftsQuery(text: string): string {
  const words = text.match(/[\p{L}\p{N}_]+\*?/gu) ?? [];
  return words.map((w) => (w.endsWith("*") ? `"${w.slice(0, -1)}"*` : `"${w}"`)).join(" ");
}
