import Database from "better-sqlite3";
import { SluiceError } from "../errors.ts";
import { type AppendRequest, planAppend, type StreamHead } from "./append-plan.ts";
import { type RemovalFacts, type RemovalRange, sameFacts } from "./removal.ts";
import { sqliteDeleteRange, sqliteRemovalFacts } from "./sqlite-removal.ts";
import { openSchema } from "./sqlite-schema.ts";

/**
 * The SQLite store's write side: one connection, each group-commit batch one transaction.
 * It runs on the writer thread (sqlite-writer.ts) or, with `writer: "inline"`, on the event loop.
 */

export type WriterReply =
  | { ok: true; nextExpectedRevision: bigint; position: bigint }
  | { ok: false; error: { code: SluiceError["code"]; message: string; details: Record<string, unknown> } };

/** Retention: a range's events are deleted and the removal event appended in one transaction, or neither. */
export interface RemovalMessage {
  range: RemovalRange;
  facts: RemovalFacts;
  request: AppendRequest;
}

/** Stream heads kept in memory; past this many the cache starts over. */
const HEAD_CACHE_LIMIT = 50_000;

class RemovalAborted extends Error {
  constructor(readonly reply: WriterReply) {
    super("removal aborted");
  }
}

export class SqliteCommits {
  private readonly db: Database.Database;
  private readonly selectHead;
  private readonly insertEvent;
  private readonly dataVersion;
  /**
   * Stream heads as of our own last commit. `data_version` changes only when another
   * connection (a CLI in another process) commits, and then the cache is dropped.
   */
  private readonly heads = new Map<string, StreamHead>();
  private seenVersion: unknown = null;
  private readonly commitBatch;
  private readonly commitOne;
  private readonly removeInTransaction;

  constructor(path: string) {
    const db = new Database(path);
    this.db = db;
    openSchema(db);
    this.selectHead = db.prepare<[string], StreamHead>(
      "SELECT revision, hash FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1",
    );
    this.insertEvent = db.prepare(
      "INSERT INTO events (stream, revision, id, type, data, metadata, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.dataVersion = db.prepare("PRAGMA data_version").pluck();
    this.commitBatch = db.transaction((requests: AppendRequest[]): WriterReply[] => {
      const version = this.dataVersion.get();
      if (version !== this.seenVersion || this.heads.size > HEAD_CACHE_LIMIT) this.heads.clear();
      this.seenVersion = version;
      return requests.map((request) => this.appendRows(request));
    });
    // Fallback when a batch fails as a whole (e.g. a duplicate event id): one transaction per
    // append, so only the offending append fails and the others still commit.
    this.commitOne = db.transaction((request: AppendRequest): WriterReply => this.appendRows(request));
    this.removeInTransaction = db.transaction((removal: RemovalMessage): WriterReply => {
      // The facts were signed into the removal event: if an append changed them since, nothing is removed.
      if (!sameFacts(sqliteRemovalFacts(db, removal.range), removal.facts)) {
        throw new RemovalAborted(
          failure(
            new SluiceError("WRONG_EXPECTED_REVISION", "the range changed since its removal was planned"),
          ),
        );
      }
      sqliteDeleteRange(db, removal.range);
      this.heads.clear();
      const reply = this.appendRows(removal.request);
      if (!reply.ok) throw new RemovalAborted(reply);
      return reply;
    });
  }

  commit(requests: AppendRequest[]): WriterReply[] {
    try {
      return this.commitBatch.immediate(requests);
    } catch (error) {
      this.heads.clear();
      if (requests.length === 1) return [refused(requests[0] as AppendRequest, error)];
      return requests.map((request) => {
        try {
          return this.commitOne.immediate(request);
        } catch (single) {
          this.heads.clear();
          return refused(request, single);
        }
      });
    }
  }

  removeRange(removal: RemovalMessage): WriterReply {
    try {
      return this.removeInTransaction.immediate(removal);
    } catch (error) {
      this.heads.clear();
      if (error instanceof RemovalAborted) return error.reply;
      return refused(removal.request, error);
    }
  }

  close(): void {
    this.db.close();
  }

  private head(stream: string): StreamHead | undefined {
    const cached = this.heads.get(stream);
    if (cached) return cached;
    const stored = this.selectHead.get(stream);
    if (stored) this.heads.set(stream, stored);
    return stored;
  }

  private appendRows(request: AppendRequest): WriterReply {
    const rows = planAppend(request, this.head(request.stream));
    if (rows instanceof SluiceError) return failure(rows);
    let position = 0n;
    for (const r of rows) {
      position = BigInt(
        this.insertEvent.run(r.stream, r.revision, r.id, r.type, r.data, r.metadata, r.hash).lastInsertRowid,
      );
    }
    const last = rows[rows.length - 1] as (typeof rows)[number];
    this.heads.set(request.stream, { revision: last.revision, hash: last.hash });
    return { ok: true, nextExpectedRevision: last.revision, position };
  }
}

function refused(request: AppendRequest, error: unknown): WriterReply {
  const message = (error as Error).message;
  // A constraint violation is this append's fault; anything else (I/O, disk full) is the store's.
  const code = /constraint/i.test(message) ? "EVENT_INVALID" : "STORE_UNAVAILABLE";
  return failure(new SluiceError(code, `append to "${request.stream}" was refused: ${message}`));
}

function failure(error: SluiceError): WriterReply {
  return { ok: false, error: { code: error.code, message: error.message, details: error.details } };
}
