import type { EventData } from "../src/events/index.ts";
import type { RecordedEvent } from "../src/eventstore/port.ts";
import { eventTime, type Projection } from "./projection.ts";

/**
 * The audit index: one row per decided command with who (agent), where (target), why (task),
 * the decision, and the rule and policy version behind it. Searchable by agent, target, task,
 * decision, rule, statement kind, relation, time range, and free text over the command (FTS5).
 * How a command completed and what it returned live in its session's timeline.
 */

export const auditProjection: Projection = {
  name: "audit",
  version: 1,
  tables: ["audit_commands", "audit_text", "audit_sessions"],
  // Indexes end in at_ms: SQLite appends the rowid (the log position), which orders ties.
  schema: `
    CREATE TABLE IF NOT EXISTS audit_commands (
      position       INTEGER PRIMARY KEY,
      command_id     TEXT NOT NULL,
      session_id     TEXT NOT NULL,
      at_ms          INTEGER NOT NULL,
      subject        TEXT NOT NULL,
      target         TEXT NOT NULL,
      task_id        TEXT,
      protocol       TEXT NOT NULL,
      decision       TEXT NOT NULL,
      rule           TEXT,
      reason         TEXT NOT NULL,
      policy_version INTEGER NOT NULL,
      approval_id    TEXT,
      command        TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS audit_by_time ON audit_commands (at_ms);
    CREATE INDEX IF NOT EXISTS audit_by_subject ON audit_commands (subject, at_ms);
    CREATE INDEX IF NOT EXISTS audit_by_target ON audit_commands (target, at_ms);
    CREATE INDEX IF NOT EXISTS audit_by_task ON audit_commands (task_id, at_ms);
    CREATE INDEX IF NOT EXISTS audit_by_rule ON audit_commands (rule, at_ms);
    -- Only the rare decisions: "allow" is most rows, found soon enough walking by time.
    CREATE INDEX IF NOT EXISTS audit_by_decision ON audit_commands (decision, at_ms) WHERE decision <> 'allow';
    -- The command's words, and its kinds and relations as one opaque token each (see tagToken):
    -- one FTS row per command costs less to write than a row per tag in an index.
    CREATE VIRTUAL TABLE IF NOT EXISTS audit_text USING fts5 (command, tags, content = '', detail = column);
    CREATE TABLE IF NOT EXISTS audit_sessions (
      session_id TEXT PRIMARY KEY,
      subject    TEXT NOT NULL,
      target     TEXT NOT NULL,
      task_id    TEXT
    ) WITHOUT ROWID;
  `,
  prepare(db) {
    const insertSession = db.prepare(
      "INSERT OR REPLACE INTO audit_sessions (session_id, subject, target, task_id) VALUES (?, ?, ?, ?)",
    );
    const selectSession = db.prepare<[string], SessionFacts>(
      "SELECT subject, target, task_id AS taskId FROM audit_sessions WHERE session_id = ?",
    );
    const insert = db.prepare(
      `INSERT INTO audit_commands (position, command_id, session_id, at_ms, subject, target, task_id,
         protocol, decision, rule, reason, policy_version, approval_id, command)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const text = db.prepare("INSERT INTO audit_text (rowid, command, tags) VALUES (?, ?, ?)");
    // Open sessions, so each command does not look its session up in SQLite (bounded; the table is the fallback).
    const sessions = new Map<string, SessionFacts>();
    const sessionOf = (sessionId: string): SessionFacts | undefined => {
      const cached = sessions.get(sessionId);
      if (cached) return cached;
      const found = selectSession.get(sessionId);
      if (found) remember(sessionId, found);
      return found;
    };
    const remember = (sessionId: string, facts: SessionFacts) => {
      if (sessions.size >= 50_000) sessions.clear();
      sessions.set(sessionId, facts);
    };
    return {
      apply(event: RecordedEvent) {
        switch (event.type) {
          case "SessionStarted": {
            const d = event.data;
            const facts = { subject: d.identity.subject, target: d.target, taskId: d.taskId ?? null };
            insertSession.run(d.sessionId, facts.subject, facts.target, facts.taskId);
            remember(d.sessionId, facts);
            return;
          }
          case "SessionEnded":
            sessions.delete(event.data.sessionId);
            return;
          case "CommandDecided": {
            const d = event.data;
            const from = sessionOf(d.sessionId);
            insert.run(
              event.position,
              d.commandId,
              d.sessionId,
              eventTime(event),
              from?.subject ?? event.metadata.actor ?? "",
              from?.target ?? "",
              from?.taskId ?? event.metadata.taskId ?? null,
              d.protocol,
              d.decision,
              d.rule,
              d.reason,
              d.policyVersion,
              d.approvalId ?? null,
              d.command,
            );
            text.run(event.position, d.command, commandTags(d).join(" "));
            return;
          }
        }
      },
    };
  },
};

interface SessionFacts {
  subject: string;
  target: string;
  taskId: string | null;
}

/**
 * What a command is and what it touches, as tag tokens for `k:<kind>` and `r:<relation>`: SQL
 * statement kinds and relations (as written, and bare when schema-qualified), SSH request and
 * programs, HTTP verb (or method) and resource (or path).
 */
export function commandTags(decided: EventData<"CommandDecided">): string[] {
  const c = decided.classification as Record<string, unknown>;
  const tags: string[] = [];
  const add = (prefix: string, values: unknown, bare = false) => {
    const list = typeof values === "string" ? [values] : Array.isArray(values) ? values : [];
    for (const value of list) {
      if (typeof value !== "string" || value === "") continue;
      const tag = tagToken(prefix, value);
      tags.push(tag);
      const dot = value.lastIndexOf(".");
      if (bare && dot > 0) tags.push(tagToken(prefix, value.slice(dot + 1)));
    }
  };
  if (decided.protocol === "postgres") {
    add("k", c.kinds);
    add("r", c.relations, true);
  } else if (decided.protocol === "ssh") {
    add("k", c.request);
    add("r", c.programs);
  } else {
    add("k", c.verb ?? c.method);
    add("r", c.resource ?? c.path);
  }
  return tags;
}

const tokens = new Map<string, string>();

/** A tag as one FTS token: hex of `prefix:value` (lower-cased), so no character of it splits the token. */
export function tagToken(prefix: string, value: string): string {
  const tag = `${prefix}:${value.toLowerCase()}`;
  let token = tokens.get(tag);
  if (token === undefined) {
    // The same few kinds and relations recur in almost every command: encode each once.
    if (tokens.size >= 10_000) tokens.clear();
    token = `x${Buffer.from(tag).toString("hex")}`;
    tokens.set(tag, token);
  }
  return token;
}
