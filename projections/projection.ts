import type Database from "better-sqlite3";
import { canonical } from "../src/eventstore/chain.ts";
import type { RecordedEvent } from "../src/eventstore/port.ts";

/**
 * A read model: tables in the read-model database, and a fold that writes one event into
 * them. The runner calls `apply` for every event after the projection's checkpoint, in $all
 * order, inside the same transaction that moves the checkpoint.
 */
export interface ProjectionFold {
  apply(event: RecordedEvent): void;
  /** End of a batch, still inside its transaction: write what was gathered in memory. */
  flush?(): void;
}

export interface Projection {
  readonly name: string;
  /** Bumped whenever the tables or the fold change: a stored read model of another version is rebuilt. */
  readonly version: number;
  /** DDL for its tables and indexes, every statement `IF NOT EXISTS`. */
  readonly schema: string;
  /** The tables it owns, dropped when it is rebuilt. */
  readonly tables: readonly string[];
  /** Prepares its statements once per database connection. */
  prepare(db: Database.Database): ProjectionFold;
}

/** Milliseconds since the epoch of an event's metadata time. */
export function eventTime(event: RecordedEvent): number {
  return Date.parse(event.metadata.time);
}

/**
 * An event's data as canonical JSON: the stored text when the event came raw from the store
 * (catch-up), else serialised the same way, so a replay stores byte-identical rows.
 */
export function dataJson(event: RecordedEvent): string {
  return (event as { text?: { data: string } }).text?.data ?? canonical(event.data);
}
