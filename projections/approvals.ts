import type Database from "better-sqlite3";
import type { RecordedEvent } from "../src/eventstore/port.ts";
import type { Projection } from "./projection.ts";
import { StatementCache, Where } from "./sql.ts";

/**
 * The approval queue: every request with its status, age, expiry and votes. Pending ones are
 * what approvers work through; the rest is history.
 */

export const approvalsProjection: Projection = {
  name: "approvals",
  version: 1,
  tables: ["approvals", "approval_votes"],
  schema: `
    CREATE TABLE IF NOT EXISTS approvals (
      approval_id     TEXT PRIMARY KEY,
      seq             INTEGER NOT NULL,
      status          TEXT NOT NULL,
      requester       TEXT NOT NULL,
      session_id      TEXT,
      task_id         TEXT,
      target          TEXT NOT NULL,
      command         TEXT NOT NULL,
      classification  TEXT NOT NULL,
      rule            TEXT NOT NULL,
      policy_version  INTEGER NOT NULL,
      approver_groups TEXT NOT NULL,
      quorum          INTEGER NOT NULL,
      any_deny_ends   INTEGER NOT NULL,
      requested_at    TEXT NOT NULL,
      expires_at      TEXT NOT NULL,
      ended_at        TEXT,
      reason          TEXT,
      approved        INTEGER NOT NULL DEFAULT 0,
      denied          INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS approvals_by_status ON approvals (status, seq);
    CREATE INDEX IF NOT EXISTS approvals_by_seq ON approvals (seq);
    CREATE INDEX IF NOT EXISTS approvals_by_session ON approvals (session_id);
    CREATE TABLE IF NOT EXISTS approval_votes (
      approval_id TEXT NOT NULL,
      position    INTEGER NOT NULL,
      voter       TEXT NOT NULL,
      vote        TEXT NOT NULL,
      comment     TEXT,
      rule        TEXT,
      cast_at     TEXT NOT NULL,
      PRIMARY KEY (approval_id, position)
    ) WITHOUT ROWID;
  `,
  prepare(db) {
    const insert = db.prepare(
      `INSERT OR REPLACE INTO approvals (approval_id, seq, status, requester, session_id, task_id, target, command,
         classification, rule, policy_version, approver_groups, quorum, any_deny_ends, requested_at, expires_at)
       VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const vote = db.prepare(
      `INSERT OR REPLACE INTO approval_votes (approval_id, position, voter, vote, comment, rule, cast_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const count = db.prepare(
      "UPDATE approvals SET approved = approved + ?, denied = denied + ? WHERE approval_id = ?",
    );
    const end = db.prepare(
      "UPDATE approvals SET status = ?, ended_at = ?, reason = ? WHERE approval_id = ? AND status = 'pending'",
    );
    return {
      apply(event: RecordedEvent) {
        const at = event.metadata.time;
        switch (event.type) {
          case "ApprovalRequested": {
            const d = event.data;
            insert.run(
              d.approvalId,
              event.position,
              d.requester.subject,
              d.sessionId ?? null,
              d.taskId ?? null,
              d.target,
              d.command,
              JSON.stringify(d.classification),
              d.rule,
              d.policyVersion,
              JSON.stringify(d.approverGroups),
              d.quorum,
              d.anyDenyEnds ? 1 : 0,
              at,
              d.expiresAt,
            );
            return;
          }
          case "ApprovalVoteCast": {
            const d = event.data;
            vote.run(
              d.approvalId,
              event.position,
              d.voter.subject,
              d.vote,
              d.comment ?? null,
              d.rule ?? null,
              at,
            );
            count.run(d.vote === "approve" ? 1 : 0, d.vote === "deny" ? 1 : 0, d.approvalId);
            return;
          }
          case "ApprovalGranted":
            end.run("granted", at, `approved by ${event.data.approvers.join(", ")}`, event.data.approvalId);
            return;
          case "ApprovalDenied":
            end.run("denied", at, event.data.reason, event.data.approvalId);
            return;
          case "ApprovalExpired":
            end.run("expired", at, "the approval request expired", event.data.approvalId);
            return;
          case "ApprovalCancelled":
            end.run("cancelled", at, event.data.reason, event.data.approvalId);
            return;
        }
      },
    };
  },
};

export type ApprovalStatus = "pending" | "granted" | "denied" | "expired" | "cancelled";

export interface ApprovalRow {
  approvalId: string;
  seq: number;
  status: ApprovalStatus;
  requester: string;
  sessionId: string | null;
  taskId: string | null;
  target: string;
  command: string;
  classification: Record<string, unknown>;
  rule: string;
  policyVersion: number;
  approverGroups: string[];
  quorum: number;
  anyDenyEnds: boolean;
  requestedAt: string;
  expiresAt: string;
  endedAt: string | null;
  reason: string | null;
  approved: number;
  denied: number;
}

export interface VoteRow {
  voter: string;
  vote: "approve" | "deny";
  comment: string | null;
  rule: string | null;
  castAt: string;
}

export interface ApprovalQuery {
  status?: ApprovalStatus;
  /** Only requests one of these groups may vote on. */
  groups?: string[];
  target?: string;
  requester?: string;
  sessionId?: string;
  /** Newest first (default): requests before this sequence number; oldest first: after it. */
  beforeSeq?: number;
  afterSeq?: number;
  oldestFirst?: boolean;
  limit: number;
}

const COLUMNS = `approval_id AS approvalId, seq, status, requester, session_id AS sessionId, task_id AS taskId,
  target, command, classification, rule, policy_version AS policyVersion, approver_groups AS approverGroups,
  quorum, any_deny_ends AS anyDenyEnds, requested_at AS requestedAt, expires_at AS expiresAt,
  ended_at AS endedAt, reason, approved, denied`;

/** Reads of the approval queue. */
export class ApprovalReads {
  private readonly byId;
  private readonly votesOf;
  private readonly statements: StatementCache;

  constructor(db: Database.Database) {
    this.statements = new StatementCache(db);
    this.byId = db.prepare<[string], Record<string, unknown>>(
      `SELECT ${COLUMNS} FROM approvals WHERE approval_id = ?`,
    );
    this.votesOf = db.prepare<[string], VoteRow>(
      `SELECT voter, vote, comment, rule, cast_at AS castAt FROM approval_votes
       WHERE approval_id = ? ORDER BY position`,
    );
  }

  get(approvalId: string): ApprovalRow | null {
    const row = this.byId.get(approvalId);
    return row ? toApproval(row) : null;
  }

  votes(approvalId: string): VoteRow[] {
    return this.votesOf.all(approvalId);
  }

  list(query: ApprovalQuery): ApprovalRow[] {
    const where = new Where()
      .when(query.status, "status = ?")
      .when(query.target, "target = ?")
      .when(query.requester, "requester = ?")
      .when(query.sessionId, "session_id = ?")
      .when(query.beforeSeq, "seq < ?")
      .when(query.afterSeq, "seq > ?")
      .in(
        query.groups,
        (list) => `EXISTS (SELECT 1 FROM json_each(approver_groups) WHERE value IN (${list}))`,
      );
    return this.statements
      .get(
        `SELECT ${COLUMNS} FROM approvals ${where} ORDER BY seq ${query.oldestFirst ? "ASC" : "DESC"} LIMIT ?`,
      )
      .all(...where.args, query.limit)
      .map((row) => toApproval(row as Record<string, unknown>));
  }
}

function toApproval(row: Record<string, unknown>): ApprovalRow {
  return {
    ...(row as unknown as ApprovalRow),
    classification: JSON.parse(row.classification as string),
    approverGroups: JSON.parse(row.approverGroups as string),
    anyDenyEnds: row.anyDenyEnds === 1,
  };
}
