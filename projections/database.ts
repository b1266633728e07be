import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { Projection } from "./projection.ts";

/**
 * The read-model database: one SQLite file (or `:memory:`) holding every projection's tables
 * and their checkpoints. Rebuildable from the log at any time, so commits are not fsynced
 * (synchronous=NORMAL in WAL keeps it consistent after a crash, maybe a few batches behind).
 */

export type ReadModelDb = Database.Database;

const CHECKPOINTS = `
CREATE TABLE IF NOT EXISTS projection_checkpoints (
  name       TEXT PRIMARY KEY,
  version    INTEGER NOT NULL,
  position   INTEGER NOT NULL,
  rebuilt_at TEXT NOT NULL
) WITHOUT ROWID;
`;

export function openReadModels(path: string): ReadModelDb {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  if (path !== ":memory:") db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 10000");
  db.pragma("temp_store = MEMORY");
  db.pragma("cache_size = -65536"); // 64 MiB: the hot indexes of a million-event log stay in memory
  db.pragma("wal_autocheckpoint = 10000"); // 40 MB of WAL between checkpoints: fewer pauses in catch-up
  db.exec(CHECKPOINTS);
  return db;
}

export interface Checkpoint {
  name: string;
  version: number;
  position: bigint;
  rebuiltAt: string;
}

/** Reads and writes checkpoints; positions are bigint end to end. */
export class Checkpoints {
  private readonly selectAll;
  private readonly upsert;

  constructor(private readonly db: ReadModelDb) {
    this.selectAll = db
      .prepare<[], { name: string; version: bigint; position: bigint; rebuilt_at: string }>(
        "SELECT name, version, position, rebuilt_at FROM projection_checkpoints",
      )
      .safeIntegers(true);
    this.upsert = db.prepare<[string, number, bigint, string]>(
      `INSERT INTO projection_checkpoints (name, version, position, rebuilt_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = excluded.position,
       rebuilt_at = excluded.rebuilt_at`,
    );
  }

  all(): Map<string, Checkpoint> {
    const found = new Map<string, Checkpoint>();
    for (const row of this.selectAll.all()) {
      found.set(row.name, {
        name: row.name,
        version: Number(row.version),
        position: row.position,
        rebuiltAt: row.rebuilt_at,
      });
    }
    return found;
  }

  set(checkpoint: Checkpoint): void {
    this.upsert.run(checkpoint.name, checkpoint.version, checkpoint.position, checkpoint.rebuiltAt);
  }

  /**
   * Makes sure the projection's tables exist at its version: missing or of another version,
   * they are dropped and created empty with the checkpoint at zero. Returns whether it reset.
   */
  ensure(projection: Projection, force = false): boolean {
    const stored = this.all().get(projection.name);
    const reset = force || !stored || stored.version !== projection.version;
    this.db.transaction(() => {
      if (reset) for (const table of projection.tables) this.db.exec(`DROP TABLE IF EXISTS "${table}"`);
      this.db.exec(projection.schema);
      if (reset) {
        this.set({
          name: projection.name,
          version: projection.version,
          position: 0n,
          rebuiltAt: new Date().toISOString(),
        });
      }
    })();
    return reset;
  }
}
