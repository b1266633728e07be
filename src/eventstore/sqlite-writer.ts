import { parentPort, workerData } from "node:worker_threads";
import type { AppendRequest } from "./append-plan.ts";
import { type RemovalMessage, SqliteCommits } from "./sqlite-commits.ts";

/**
 * The SQLite writer thread. Commits run here so the gateway's event loop keeps serving
 * sessions during fsync; each message is one group-commit batch, one transaction.
 */

const commits = new SqliteCommits((workerData as { path: string }).path);

type Incoming = { id: number; requests?: AppendRequest[]; remove?: RemovalMessage; close?: true };

parentPort?.on("message", (message: Incoming) => {
  if (message.remove) {
    parentPort?.postMessage({ id: message.id, removal: commits.removeRange(message.remove) });
    return;
  }
  if (message.close) {
    commits.close();
    parentPort?.postMessage({ id: message.id, closed: true });
    return;
  }
  parentPort?.postMessage({ id: message.id, replies: commits.commit(message.requests ?? []) });
});

parentPort?.postMessage({ ready: true });
