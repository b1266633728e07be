import type { EventMetadata, NewEvent, SluiceEvent } from "../events/index.ts";
import type { RangeRemoval, RemovalFacts, RemovalRange } from "./removal.ts";

/**
 * The EventStore port. Every adapter (SQLite, PostgreSQL, EventStoreDB) passes the one
 * contract suite in test/contract. Revisions count from 0 within a stream; positions are
 * the global $all order. Both are bigint.
 */

/** `any`: no check; `no_stream`: the stream must not exist; `stream_exists`: it must; bigint: its last revision. */
export type ExpectedRevision = "any" | "no_stream" | "stream_exists" | bigint;

export interface AppendOptions {
  expectedRevision?: ExpectedRevision;
}

export interface AppendResult {
  /** Revision of the last event appended. */
  nextExpectedRevision: bigint;
  /** $all position of the last event appended. */
  position: bigint;
}

/** An event as stored, before catalogue validation: what `sluice verify` walks. */
export interface RawEvent {
  stream: string;
  revision: bigint;
  position: bigint;
  type: string;
  data: unknown;
  metadata: unknown;
  hash: string;
  /** The stored JSON text, where the engine keeps it verbatim (checked for canonical form). */
  text?: { data: string; metadata: string };
}

/** An event read back and validated against the catalogue. */
export type RecordedEvent<E extends SluiceEvent = SluiceEvent> = E & {
  stream: string;
  revision: bigint;
  position: bigint;
  metadata: EventMetadata;
  hash: string;
};

export interface ReadAllOptions {
  /** Exclusive: read events with position greater than this. Default: from the start. */
  after?: bigint;
  maxCount?: number;
}

export interface ReadStreamOptions {
  /** Inclusive. Default: 0 forwards, the last revision backwards. */
  fromRevision?: bigint;
  maxCount?: number;
  direction?: "forwards" | "backwards";
}

/** A live subscription: iterate it; `close()` ends the iteration. */
export interface Subscription<T> extends AsyncIterable<T> {
  close(): Promise<void>;
}

export interface EventStore {
  readonly kind: "sqlite" | "postgres" | "esdb";
  /** Appends atomically; resolves only once the events are durable. */
  append(stream: string, events: NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  readStream(stream: string, options?: ReadStreamOptions): AsyncIterable<RecordedEvent>;
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent>;
  readAllRaw(options?: ReadAllOptions): AsyncIterable<RawEvent>;
  /** Catches up from `after`, then goes live, with no gap and no duplicate at the switch. */
  subscribeAll(options?: { after?: bigint }): Subscription<RecordedEvent>;
  subscribeStream(stream: string, options?: { fromRevision?: bigint }): Subscription<RecordedEvent>;
  /** Position of the newest event, 0n when the log is empty. */
  headPosition(): Promise<bigint>;
  /** Retention (SQLite, PostgreSQL; not EventStoreDB): what removing a sealed range would delete, keep, carry. */
  removalFacts?(range: RemovalRange): Promise<RemovalFacts>;
  /** Deletes the range and appends its LedgerRangeRemoved in one transaction, only if the facts still hold. */
  removeRange?(removal: RangeRemoval): Promise<AppendResult>;
  /** Flushes pending appends, then releases the engine. */
  close(): Promise<void>;
}
