import type Database from "better-sqlite3";
import { streamCategory } from "../src/events/index.ts";
import type { RecordedEvent } from "../src/eventstore/port.ts";
import { dataJson, type Projection } from "./projection.ts";
import { StatementCache, Where } from "./sql.ts";

/**
 * Session timelines: one row per session (who, where, through which credential and task, how
 * it ended, how many commands were decided which way) and every event of the session in log
 * order, together with the events of the approvals it asked for. Outputs are recorded masked
 * by the gate, so the timeline shows what the agent saw, never more.
 */

export const sessionsProjection: Projection = {
  name: "sessions",
  version: 1,
  tables: ["sessions", "session_events", "session_approvals"],
  schema: `
    CREATE TABLE IF NOT EXISTS sessions (
      session_id         TEXT PRIMARY KEY,
      seq                INTEGER NOT NULL,
      protocol           TEXT NOT NULL,
      target             TEXT NOT NULL,
      subject            TEXT NOT NULL,
      groups             TEXT NOT NULL,
      credential_id      TEXT,
      task_id            TEXT,
      client_address     TEXT NOT NULL,
      client_application TEXT,
      started_at         TEXT NOT NULL,
      ended_at           TEXT,
      end_reason         TEXT,
      duration_ms        REAL,
      commands           INTEGER NOT NULL DEFAULT 0,
      denied             INTEGER NOT NULL DEFAULT 0,
      held               INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS sessions_by_seq ON sessions (seq);
    CREATE INDEX IF NOT EXISTS sessions_by_subject ON sessions (subject, seq);
    CREATE INDEX IF NOT EXISTS sessions_by_target ON sessions (target, seq);
    CREATE INDEX IF NOT EXISTS sessions_by_task ON sessions (task_id, seq);
    CREATE INDEX IF NOT EXISTS sessions_by_credential ON sessions (credential_id, seq);
    -- Keyed by log position, so rows append at the end; the index finds a session's events.
    CREATE TABLE IF NOT EXISTS session_events (
      position   INTEGER PRIMARY KEY,
      session_id TEXT NOT NULL,
      type       TEXT NOT NULL,
      at         TEXT NOT NULL,
      command_id TEXT,
      data       TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS session_events_by_session ON session_events (session_id, position);
    CREATE TABLE IF NOT EXISTS session_approvals (
      approval_id TEXT PRIMARY KEY,
      session_id  TEXT NOT NULL
    ) WITHOUT ROWID;
  `,
  prepare(db) {
    const start = db.prepare(
      `INSERT OR REPLACE INTO sessions (session_id, seq, protocol, target, subject, groups, credential_id, task_id,
         client_address, client_application, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const counted = db.prepare(
      "UPDATE sessions SET commands = commands + ?, denied = denied + ?, held = held + ? WHERE session_id = ?",
    );
    // Decisions counted in memory and written once per session per batch.
    const counts = new Map<string, { commands: number; denied: number; held: number }>();
    const end = db.prepare(
      "UPDATE sessions SET ended_at = ?, end_reason = ?, duration_ms = ? WHERE session_id = ?",
    );
    const entry = db.prepare(
      `INSERT INTO session_events (session_id, position, type, at, command_id, data)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    const linkApproval = db.prepare(
      "INSERT OR REPLACE INTO session_approvals (approval_id, session_id) VALUES (?, ?)",
    );
    const approvalSession = db.prepare<[string], { session_id: string }>(
      "SELECT session_id FROM session_approvals WHERE approval_id = ?",
    );
    const record = (sessionId: string, event: RecordedEvent, commandId: string | null) =>
      entry.run(sessionId, event.position, event.type, event.metadata.time, commandId, dataJson(event));

    return {
      apply(event: RecordedEvent) {
        switch (event.type) {
          case "SessionStarted": {
            const d = event.data;
            start.run(
              d.sessionId,
              event.position,
              d.protocol,
              d.target,
              d.identity.subject,
              JSON.stringify(d.identity.groups),
              d.credentialId ?? null,
              d.taskId ?? null,
              d.client.address,
              d.client.application ?? null,
              event.metadata.time,
            );
            record(d.sessionId, event, null);
            return;
          }
          case "CommandDecided": {
            const d = event.data;
            let count = counts.get(d.sessionId);
            if (!count) {
              count = { commands: 0, denied: 0, held: 0 };
              counts.set(d.sessionId, count);
            }
            count.commands += 1;
            if (d.decision === "deny") count.denied += 1;
            else if (d.decision === "require_approval") count.held += 1;
            record(d.sessionId, event, d.commandId);
            return;
          }
          case "CommandCompleted":
            record(event.data.sessionId, event, event.data.commandId);
            return;
          case "OutputRecorded":
            record(event.data.sessionId, event, null);
            return;
          case "SessionEnded":
            end.run(event.metadata.time, event.data.reason, event.data.durationMs, event.data.sessionId);
            record(event.data.sessionId, event, null);
            return;
          case "ApprovalRequested":
            if (!event.data.sessionId) return;
            linkApproval.run(event.data.approvalId, event.data.sessionId);
            record(event.data.sessionId, event, null);
            return;
          default: {
            if (streamCategory(event.stream) !== "approval") return;
            const approvalId = (event.data as { approvalId: string }).approvalId;
            const link = approvalSession.get(approvalId);
            if (link) record(link.session_id, event, null);
          }
        }
      },
      flush() {
        for (const [sessionId, c] of counts) counted.run(c.commands, c.denied, c.held, sessionId);
        counts.clear();
      },
    };
  },
};

export interface SessionRow {
  sessionId: string;
  seq: number;
  protocol: string;
  target: string;
  subject: string;
  groups: string[];
  credentialId: string | null;
  taskId: string | null;
  clientAddress: string;
  clientApplication: string | null;
  startedAt: string;
  endedAt: string | null;
  endReason: string | null;
  durationMs: number | null;
  commands: number;
  denied: number;
  held: number;
}

export interface TimelineRow {
  sessionId: string;
  position: number;
  type: string;
  at: string;
  commandId: string | null;
  data: Record<string, unknown>;
}

export interface SessionQuery {
  subject?: string;
  target?: string;
  taskId?: string;
  credentialId?: string;
  /** Sessions started between these times (ISO). */
  from?: string;
  to?: string;
  /** Newest first: sessions started before this sequence number. */
  beforeSeq?: number;
  limit: number;
}

const COLUMNS = `session_id AS sessionId, seq, protocol, target, subject, groups, credential_id AS credentialId,
  task_id AS taskId, client_address AS clientAddress, client_application AS clientApplication,
  started_at AS startedAt, ended_at AS endedAt, end_reason AS endReason, duration_ms AS durationMs,
  commands, denied, held`;

/** Reads of the session timelines. */
export class SessionReads {
  private readonly byId;
  private readonly timelinePage;
  private readonly commandEntries;
  private readonly statements: StatementCache;

  constructor(db: Database.Database) {
    this.statements = new StatementCache(db);
    this.byId = db.prepare<[string], SessionRecord>(`SELECT ${COLUMNS} FROM sessions WHERE session_id = ?`);
    this.timelinePage = db.prepare<[string, number, number], TimelineRecord>(
      `SELECT session_id AS sessionId, position, type, at, command_id AS commandId, data FROM session_events
       WHERE session_id = ? AND position > ? ORDER BY position LIMIT ?`,
    );
    this.commandEntries = db.prepare<[string, string], TimelineRecord>(
      `SELECT session_id AS sessionId, position, type, at, command_id AS commandId, data FROM session_events
       WHERE session_id = ? AND command_id = ? ORDER BY position`,
    );
  }

  get(sessionId: string): SessionRow | null {
    const row = this.byId.get(sessionId);
    return row ? toSession(row) : null;
  }

  list(query: SessionQuery): SessionRow[] {
    const where = new Where()
      .when(query.subject, "subject = ?")
      .when(query.target, "target = ?")
      .when(query.taskId, "task_id = ?")
      .when(query.credentialId, "credential_id = ?")
      .when(query.from, "started_at >= ?")
      .when(query.to, "started_at <= ?")
      .when(query.beforeSeq, "seq < ?");
    return this.statements
      .get(`SELECT ${COLUMNS} FROM sessions ${where} ORDER BY seq DESC LIMIT ?`)
      .all(...where.args, query.limit)
      .map((row) => toSession(row as SessionRecord));
  }

  /** The session's events in log order, after `afterPosition`. */
  timeline(sessionId: string, afterPosition: number, limit: number): TimelineRow[] {
    return this.timelinePage.all(sessionId, afterPosition, limit).map(toTimeline);
  }

  /** The decision and completion of one command. */
  commandEvents(sessionId: string, commandId: string): TimelineRow[] {
    return this.commandEntries.all(sessionId, commandId).map(toTimeline);
  }
}

type SessionRecord = Omit<SessionRow, "groups"> & { groups: string };
type TimelineRecord = Omit<TimelineRow, "data"> & { data: string };

function toSession(row: SessionRecord): SessionRow {
  return { ...row, groups: JSON.parse(row.groups) };
}

export function toTimeline(row: TimelineRecord): TimelineRow {
  return { ...row, data: JSON.parse(row.data) };
}
