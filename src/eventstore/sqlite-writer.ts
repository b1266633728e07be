import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { SluiceError } from "../errors.ts";
import { type AppendRequest, planAppend, type StreamHead } from "./append-plan.ts";
import { type RemovalFacts, type RemovalRange, sameFacts } from "./removal.ts";
import { sqliteDeleteRange, sqliteRemovalFacts } from "./sqlite-removal.ts";
import { openSchema } from "./sqlite-schema.ts";

/**
 * The SQLite writer thread. Commits run here so the gateway's event loop keeps serving
 * sessions during fsync; each message is one group-commit batch, one transaction.
 */

export type WriterReply =
  | { ok: true; nextExpectedRevision: bigint; position: bigint }
  | { ok: false; error: { code: SluiceError["code"]; message: string; details: Record<string, unknown> } };

const db = new Database((workerData as { path: string }).path);
openSchema(db);

const selectHead = db.prepare<[string], StreamHead>(
  "SELECT revision, hash FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1",
);
const insertEvent = db.prepare(
  "INSERT INTO events (stream, revision, id, type, data, metadata, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
);
const dataVersion = db.prepare("PRAGMA data_version").pluck();

/**
 * Stream heads as of our own last commit. `data_version` changes only when another
 * connection (a CLI in another process) commits, and then the cache is dropped.
 */
const heads = new Map<string, StreamHead>();
const HEAD_CACHE_LIMIT = 50_000;
let seenVersion: unknown = null;

function head(stream: string): StreamHead | undefined {
  const cached = heads.get(stream);
  if (cached) return cached;
  const stored = selectHead.get(stream);
  if (stored) heads.set(stream, stored);
  return stored;
}

function appendRows(request: AppendRequest): WriterReply {
  const rows = planAppend(request, head(request.stream));
  if (rows instanceof SluiceError) return failure(rows);
  let position = 0n;
  for (const r of rows) {
    position = BigInt(
      insertEvent.run(r.stream, r.revision, r.id, r.type, r.data, r.metadata, r.hash).lastInsertRowid,
    );
  }
  const last = rows[rows.length - 1] as (typeof rows)[number];
  heads.set(request.stream, { revision: last.revision, hash: last.hash });
  return { ok: true, nextExpectedRevision: last.revision, position };
}

const commitBatch = db.transaction((requests: AppendRequest[]): WriterReply[] => {
  const version = dataVersion.get();
  if (version !== seenVersion || heads.size > HEAD_CACHE_LIMIT) heads.clear();
  seenVersion = version;
  return requests.map(appendRows);
});

// Fallback when a batch fails as a whole (e.g. a duplicate event id): one transaction per
// append, so only the offending append fails and the others still commit.
const commitOne = db.transaction((request: AppendRequest): WriterReply => appendRows(request));

function commit(requests: AppendRequest[]): WriterReply[] {
  try {
    return commitBatch.immediate(requests);
  } catch (error) {
    heads.clear();
    if (requests.length === 1) return [refused(requests[0] as AppendRequest, error)];
    return requests.map((request) => {
      try {
        return commitOne.immediate(request);
      } catch (single) {
        heads.clear();
        return refused(request, single);
      }
    });
  }
}

/** Retention: a range's events are deleted and the removal event appended in one transaction, or neither. */
export interface RemovalMessage {
  range: RemovalRange;
  facts: RemovalFacts;
  request: AppendRequest;
}

class RemovalAborted extends Error {
  constructor(readonly reply: WriterReply) {
    super("removal aborted");
  }
}

const removeInTransaction = db.transaction((removal: RemovalMessage): WriterReply => {
  // The facts were signed into the removal event: if an append changed them since, nothing is removed.
  if (!sameFacts(sqliteRemovalFacts(db, removal.range), removal.facts)) {
    throw new RemovalAborted(
      failure(new SluiceError("WRONG_EXPECTED_REVISION", "the range changed since its removal was planned")),
    );
  }
  sqliteDeleteRange(db, removal.range);
  heads.clear();
  const reply = appendRows(removal.request);
  if (!reply.ok) throw new RemovalAborted(reply);
  return reply;
});

function removeRange(removal: RemovalMessage): WriterReply {
  try {
    return removeInTransaction.immediate(removal);
  } catch (error) {
    heads.clear();
    if (error instanceof RemovalAborted) return error.reply;
    return refused(removal.request, error);
  }
}

type Incoming = { id: number; requests?: AppendRequest[]; remove?: RemovalMessage; close?: true };

parentPort?.on("message", (message: Incoming) => {
  if (message.remove) {
    parentPort?.postMessage({ id: message.id, removal: removeRange(message.remove) });
    return;
  }
  if (message.close) {
    db.close();
    parentPort?.postMessage({ id: message.id, closed: true });
    return;
  }
  parentPort?.postMessage({ id: message.id, replies: commit(message.requests ?? []) });
});

parentPort?.postMessage({ ready: true });

function refused(request: AppendRequest, error: unknown): WriterReply {
  const message = (error as Error).message;
  // A constraint violation is this append's fault; anything else (I/O, disk full) is the store's.
  const code = /constraint/i.test(message) ? "EVENT_INVALID" : "STORE_UNAVAILABLE";
  return failure(new SluiceError(code, `append to "${request.stream}" was refused: ${message}`));
}

function failure(error: SluiceError): WriterReply {
  return { ok: false, error: { code: error.code, message: error.message, details: error.details } };
}
