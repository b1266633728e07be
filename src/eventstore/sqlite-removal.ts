import type Database from "better-sqlite3";
import { REMOVAL_SQL, type RemovalFacts, type RemovalRange, removalFacts } from "./removal.ts";

/** Retention on SQLite: facts read on any connection; the delete runs in the writer's transaction. */

export function sqliteRemovalFacts(db: Database.Database, range: RemovalRange): RemovalFacts {
  const removed = db.prepare(REMOVAL_SQL.removed).get(range.after, range.to) as { n: bigint | number };
  const kept = db
    .prepare(REMOVAL_SQL.kept)
    .pluck()
    .iterate(range.after, range.to) as IterableIterator<string>;
  const keptHashes = [...kept];
  const carried = db.prepare(REMOVAL_SQL.carried).all(range.after, range.to) as {
    stream: string;
    revision: bigint;
    hash: string;
  }[];
  return removalFacts(Number(removed.n), keptHashes, carried);
}

export function sqliteDeleteRange(db: Database.Database, range: RemovalRange): number {
  return db.prepare(REMOVAL_SQL.delete).run(range.after, range.to).changes;
}
