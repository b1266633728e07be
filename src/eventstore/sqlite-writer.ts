import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { SluiceError } from "../errors.ts";
import { type AppendRequest, planAppend, type StreamHead } from "./append-plan.ts";
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

const getHead = db.prepare<[string], StreamHead>(
  "SELECT revision, hash FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1",
);
const insertEvent = db.prepare(
  "INSERT INTO events (stream, revision, id, type, data, metadata, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
);

const appendOne = db.transaction((request: AppendRequest): WriterReply => {
  const rows = planAppend(request, getHead.get(request.stream));
  if (rows instanceof SluiceError) return failure(rows);
  let position = 0n;
  for (const row of rows) {
    const info = insertEvent.run(
      row.stream,
      row.revision,
      row.id,
      row.type,
      row.data,
      row.metadata,
      row.hash,
    );
    position = BigInt(info.lastInsertRowid);
  }
  return {
    ok: true,
    nextExpectedRevision: (rows[rows.length - 1] as (typeof rows)[number]).revision,
    position,
  };
});

// Nested transactions become savepoints: one failing append rolls back alone, the batch commits.
const commitBatch = db.transaction((requests: AppendRequest[]): WriterReply[] =>
  requests.map((request) => {
    try {
      return appendOne(request);
    } catch (error) {
      return failure(
        new SluiceError(
          "EVENT_INVALID",
          `append to "${request.stream}" was refused: ${(error as Error).message}`,
        ),
      );
    }
  }),
);

parentPort?.on("message", (message: { id: number; requests?: AppendRequest[]; close?: true }) => {
  if (message.close) {
    db.close();
    parentPort?.postMessage({ id: message.id, closed: true });
    return;
  }
  try {
    parentPort?.postMessage({ id: message.id, replies: commitBatch.immediate(message.requests ?? []) });
  } catch (error) {
    const unavailable = new SluiceError(
      "STORE_UNAVAILABLE",
      `SQLite commit failed: ${(error as Error).message}`,
    );
    parentPort?.postMessage({
      id: message.id,
      replies: (message.requests ?? []).map(() => failure(unavailable)),
    });
  }
});

parentPort?.postMessage({ ready: true });

function failure(error: SluiceError): WriterReply {
  return { ok: false, error: { code: error.code, message: error.message, details: error.details } };
}
