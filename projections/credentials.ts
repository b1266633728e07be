import type Database from "better-sqlite3";
import type { RecordedEvent } from "../src/eventstore/port.ts";
import type { Projection } from "./projection.ts";
import { StatementCache, Where } from "./sql.ts";

/**
 * The credential ledger: every sub-task credential, issued to whom, for which task, target
 * and access, how often it was used, and how it ended (revoked by whom, or expired), with
 * its ephemeral upstream role if it had one. Tokens are never in the log, so never here.
 */

export const credentialsProjection: Projection = {
  name: "credentials",
  version: 1,
  tables: ["credentials"],
  schema: `
    CREATE TABLE IF NOT EXISTS credentials (
      credential_id  TEXT PRIMARY KEY,
      seq            INTEGER NOT NULL,
      subject        TEXT NOT NULL,
      target         TEXT NOT NULL,
      access         TEXT NOT NULL,
      task_id        TEXT NOT NULL,
      reason         TEXT,
      issued_at      TEXT NOT NULL,
      expires_at     TEXT NOT NULL,
      status         TEXT NOT NULL,
      ended_at       TEXT,
      revoked_by     TEXT,
      revoke_reason  TEXT,
      uses           INTEGER NOT NULL DEFAULT 0,
      last_used_at   TEXT,
      upstream_mode  TEXT,
      upstream_role  TEXT,
      role_dropped   TEXT
    );
    CREATE INDEX IF NOT EXISTS credentials_by_seq ON credentials (seq);
    CREATE INDEX IF NOT EXISTS credentials_by_subject ON credentials (subject, seq);
    CREATE INDEX IF NOT EXISTS credentials_by_task ON credentials (task_id, seq);
    CREATE INDEX IF NOT EXISTS credentials_by_target ON credentials (target, seq);
    CREATE INDEX IF NOT EXISTS credentials_by_status ON credentials (status, seq);
  `,
  prepare(db) {
    const issue = db.prepare(
      `INSERT OR REPLACE INTO credentials (credential_id, seq, subject, target, access, task_id, reason, issued_at,
         expires_at, status, upstream_mode, upstream_role) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)`,
    );
    const use = db.prepare(
      "UPDATE credentials SET uses = uses + 1, last_used_at = ? WHERE credential_id = ?",
    );
    const revoke = db.prepare(
      `UPDATE credentials SET status = 'revoked', ended_at = ?, revoked_by = ?, revoke_reason = ?
       WHERE credential_id = ? AND status = 'active'`,
    );
    const expire = db.prepare(
      "UPDATE credentials SET status = 'expired', ended_at = ? WHERE credential_id = ? AND status = 'active'",
    );
    const role = db.prepare("UPDATE credentials SET upstream_role = ? WHERE credential_id = ?");
    const dropRole = db.prepare("UPDATE credentials SET role_dropped = ? WHERE credential_id = ?");
    return {
      apply(event: RecordedEvent) {
        const at = event.metadata.time;
        switch (event.type) {
          case "CredentialIssued": {
            const d = event.data;
            issue.run(
              d.credentialId,
              event.position,
              d.subject.subject,
              d.target,
              d.access,
              d.taskId,
              d.reason ?? null,
              at,
              d.expiresAt,
              d.upstream?.mode ?? null,
              d.upstream?.role ?? null,
            );
            return;
          }
          // A session opened with the credential is a use, whether or not CredentialUsed was recorded.
          case "CredentialUsed":
            use.run(at, event.data.credentialId);
            return;
          case "SessionStarted":
            if (event.data.credentialId) use.run(at, event.data.credentialId);
            return;
          case "CredentialRevoked":
            revoke.run(at, event.data.by.subject, event.data.reason, event.data.credentialId);
            return;
          case "CredentialExpired":
            expire.run(at, event.data.credentialId);
            return;
          case "UpstreamRoleCreated":
            role.run(event.data.role, event.data.credentialId);
            return;
          case "UpstreamRoleDropped":
            dropRole.run(`${at} (${event.data.reason})`, event.data.credentialId);
            return;
        }
      },
    };
  },
};

export interface CredentialRow {
  credentialId: string;
  seq: number;
  subject: string;
  target: string;
  access: string;
  taskId: string;
  reason: string | null;
  issuedAt: string;
  expiresAt: string;
  status: "active" | "revoked" | "expired";
  endedAt: string | null;
  revokedBy: string | null;
  revokeReason: string | null;
  uses: number;
  lastUsedAt: string | null;
  upstreamMode: string | null;
  upstreamRole: string | null;
  roleDropped: string | null;
}

export interface CredentialQuery {
  subject?: string;
  target?: string;
  taskId?: string;
  status?: CredentialRow["status"];
  beforeSeq?: number;
  limit: number;
}

const COLUMNS = `credential_id AS credentialId, seq, subject, target, access, task_id AS taskId, reason,
  issued_at AS issuedAt, expires_at AS expiresAt, status, ended_at AS endedAt, revoked_by AS revokedBy,
  revoke_reason AS revokeReason, uses, last_used_at AS lastUsedAt, upstream_mode AS upstreamMode,
  upstream_role AS upstreamRole, role_dropped AS roleDropped`;

export class CredentialReads {
  private readonly byId;
  private readonly statements: StatementCache;

  constructor(db: Database.Database) {
    this.statements = new StatementCache(db);
    this.byId = db.prepare<[string], CredentialRow>(
      `SELECT ${COLUMNS} FROM credentials WHERE credential_id = ?`,
    );
  }

  get(credentialId: string): CredentialRow | null {
    return this.byId.get(credentialId) ?? null;
  }

  list(query: CredentialQuery): CredentialRow[] {
    const where = new Where()
      .when(query.subject, "subject = ?")
      .when(query.target, "target = ?")
      .when(query.taskId, "task_id = ?")
      .when(query.status, "status = ?")
      .when(query.beforeSeq, "seq < ?");
    return this.statements
      .get(`SELECT ${COLUMNS} FROM credentials ${where} ORDER BY seq DESC LIMIT ?`)
      .all(...where.args, query.limit) as CredentialRow[];
  }
}
