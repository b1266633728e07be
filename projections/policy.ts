import type Database from "better-sqlite3";
import type { RecordedEvent } from "../src/eventstore/port.ts";
import type { Projection } from "./projection.ts";

/**
 * Policy state: every published version (the current one is the highest), and which rule
 * decided what under each version, counted per decision.
 */

export const policyProjection: Projection = {
  name: "policy",
  version: 1,
  tables: ["policy_versions", "policy_rule_decisions"],
  schema: `
    CREATE TABLE IF NOT EXISTS policy_versions (
      version      INTEGER PRIMARY KEY,
      hash         TEXT NOT NULL,
      author       TEXT NOT NULL,
      published_at TEXT NOT NULL,
      position     INTEGER NOT NULL,
      document     TEXT NOT NULL,
      diff         TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS policy_rule_decisions (
      policy_version INTEGER NOT NULL,
      rule           TEXT NOT NULL,
      decision       TEXT NOT NULL,
      count          INTEGER NOT NULL,
      last_at        TEXT NOT NULL,
      PRIMARY KEY (policy_version, rule, decision)
    ) WITHOUT ROWID;
  `,
  prepare(db) {
    const insertVersion = db.prepare(
      `INSERT OR REPLACE INTO policy_versions (version, hash, author, published_at, position, document, diff)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const countDecisions = db.prepare(
      `INSERT INTO policy_rule_decisions (policy_version, rule, decision, count, last_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET count = count + excluded.count, last_at = max(last_at, excluded.last_at)`,
    );
    // Counted in memory and written once per batch: one upsert per rule instead of one per command.
    const counts = new Map<
      string,
      { version: number; rule: string; decision: string; n: number; at: string }
    >();
    return {
      apply(event: RecordedEvent) {
        if (event.type === "PolicyVersionPublished") {
          const { data } = event;
          insertVersion.run(
            data.version,
            data.hash,
            data.author.subject,
            event.metadata.time,
            event.position,
            JSON.stringify(data.document),
            JSON.stringify(data.diff),
          );
        } else if (event.type === "CommandDecided") {
          const { data } = event;
          // "" stands for "no rule" (default deny): part of a primary key, so never NULL.
          const rule = data.rule ?? "";
          const key = `${data.policyVersion}\u0000${rule}\u0000${data.decision}`;
          const entry = counts.get(key);
          if (entry) {
            entry.n += 1;
            entry.at = event.metadata.time;
          } else {
            counts.set(key, {
              version: data.policyVersion,
              rule,
              decision: data.decision,
              n: 1,
              at: event.metadata.time,
            });
          }
        }
      },
      flush() {
        for (const c of counts.values()) countDecisions.run(c.version, c.rule, c.decision, c.n, c.at);
        counts.clear();
      },
    };
  },
};

export interface PolicyVersionRow {
  version: number;
  hash: string;
  author: string;
  publishedAt: string;
  position: string;
  document: Record<string, unknown>;
  diff: string[];
}

export interface RuleDecisionRow {
  policyVersion: number;
  rule: string | null;
  decision: string;
  count: number;
  lastAt: string;
}

type VersionRecord = Omit<PolicyVersionRow, "document" | "diff" | "position"> & {
  position: number;
  document: string;
  diff: string;
};

const VERSION_COLUMNS = "version, hash, author, published_at AS publishedAt, position, document, diff";

/** Reads of the policy read model. */
export class PolicyReads {
  private readonly current;
  private readonly byVersion;
  private readonly page;
  private readonly decisions;

  constructor(db: Database.Database) {
    this.current = db.prepare<[], VersionRecord>(
      `SELECT ${VERSION_COLUMNS} FROM policy_versions ORDER BY version DESC LIMIT 1`,
    );
    this.byVersion = db.prepare<[number], VersionRecord>(
      `SELECT ${VERSION_COLUMNS} FROM policy_versions WHERE version = ?`,
    );
    this.page = db.prepare<[number, number], VersionRecord>(
      `SELECT ${VERSION_COLUMNS} FROM policy_versions WHERE version < ? ORDER BY version DESC LIMIT ?`,
    );
    this.decisions = db.prepare<[number], RuleDecisionRow>(
      `SELECT policy_version AS policyVersion, nullif(rule, '') AS rule, decision, count, last_at AS lastAt
       FROM policy_rule_decisions WHERE policy_version = ? ORDER BY count DESC, rule, decision`,
    );
  }

  currentVersion(): PolicyVersionRow | null {
    return toVersion(this.current.get());
  }

  version(version: number): PolicyVersionRow | null {
    return toVersion(this.byVersion.get(version));
  }

  /** Newest first, versions below `before`. */
  history(before: number, limit: number): PolicyVersionRow[] {
    return this.page.all(before, limit).map((row) => toVersion(row) as PolicyVersionRow);
  }

  ruleDecisions(version: number): RuleDecisionRow[] {
    return this.decisions.all(version);
  }
}

function toVersion(row: VersionRecord | undefined): PolicyVersionRow | null {
  if (!row) return null;
  return {
    version: row.version,
    hash: row.hash,
    author: row.author,
    publishedAt: row.publishedAt,
    position: String(row.position),
    document: JSON.parse(row.document),
    diff: JSON.parse(row.diff),
  };
}
