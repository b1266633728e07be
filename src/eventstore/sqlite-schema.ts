import type Database from "better-sqlite3";

/**
 * The embedded store's tables. `position` is AUTOINCREMENT so a removed tail position is
 * never reused; data and metadata are kept as canonical JSON text, byte for byte as hashed.
 * A stream's head is its last row through the (stream, revision) index: no second table to keep in step.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  stream   TEXT    NOT NULL,
  revision INTEGER NOT NULL,
  id       TEXT    NOT NULL UNIQUE,
  type     TEXT    NOT NULL,
  data     TEXT    NOT NULL,
  metadata TEXT    NOT NULL,
  hash     TEXT    NOT NULL,
  UNIQUE (stream, revision)
);
`;

export function openSchema(db: Database.Database): void {
  db.pragma("journal_mode = WAL");
  // FULL: every commit is fsynced, so an append that resolved survives a crash or power loss.
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 10000");
  db.defaultSafeIntegers(true);
  db.exec(SCHEMA);
}
