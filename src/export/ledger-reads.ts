import { SluiceError } from "../errors.ts";
import { type EventData, SEALS_STREAM, sessionStream } from "../events/index.ts";
import { RETENTION_STREAM } from "../events/retention.ts";
import type { EventStore, RawEvent } from "../eventstore/port.ts";
import { type SessionInfo, sessionInfo } from "./commands.ts";

/** What exports and retention read from the log besides the range itself. */

export type Removal = EventData<"LedgerRangeRemoved"> & { position: bigint };
export type SealEntry = { position: bigint; data: EventData<"LedgerSealed"> };

export async function readRemovals(store: EventStore): Promise<Removal[]> {
  const removals: Removal[] = [];
  for await (const event of store.readStream(RETENTION_STREAM)) {
    if (event.type === "LedgerRangeRemoved") removals.push({ ...event.data, position: event.position });
  }
  return removals;
}

/** Seals whose range overlaps (after, to], in order, streamed. */
export async function* sealsOverlapping(
  store: EventStore,
  after: bigint,
  to: bigint,
): AsyncGenerator<SealEntry> {
  for await (const event of store.readStream(SEALS_STREAM)) {
    if (event.type !== "LedgerSealed") continue;
    if (BigInt(event.data.fromPosition) >= to) return;
    if (BigInt(event.data.toPosition) > after) yield { position: event.position, data: event.data };
  }
}

export function eventTime(event: RawEvent): number {
  return Date.parse((event.metadata as { time: string }).time);
}

/**
 * The position after which the first event at or after `time` lies, by bisection over
 * positions: time follows the log's order (positions are assigned at commit), so a window
 * of one day in a year-long log reads a few dozen events, not the whole year.
 */
export async function positionBefore(
  store: EventStore,
  time: number,
  after: bigint,
  to: bigint,
): Promise<bigint> {
  let lo = after;
  let hi = to;
  while (lo < hi) {
    const mid = lo + (hi - lo) / 2n;
    const next = await firstAfter(store, mid);
    if (!next || next.position > hi || eventTime(next) >= time) hi = mid;
    else lo = next.position;
  }
  return lo;
}

async function firstAfter(store: EventStore, position: bigint): Promise<RawEvent | undefined> {
  for await (const event of store.readAllRaw({ after: position, maxCount: 1 })) return event;
  return undefined;
}

export async function lookupSession(store: EventStore, sessionId: string): Promise<SessionInfo | undefined> {
  for await (const event of store.readStream(sessionStream(sessionId), { maxCount: 1 })) {
    if (event.type === "SessionStarted") return sessionInfo(event.data, event.metadata.time);
  }
  return undefined;
}

/**
 * The hash a stream's event at `revision` chains to: the previous event's, or, when retention
 * removed it, the head its removal carried over.
 */
export function previousHashReader(store: EventStore): (stream: string, revision: bigint) => Promise<string> {
  let carried: Map<string, { revision: bigint; hash: string }> | undefined;
  return async (stream, revision) => {
    for await (const event of store.readStream(stream, { fromRevision: revision - 1n, maxCount: 1 })) {
      if (event.revision === revision - 1n) return event.hash;
    }
    if (!carried) {
      carried = new Map();
      for (const removal of await readRemovals(store))
        for (const head of removal.carried)
          carried.set(head.stream, { revision: BigInt(head.revision), hash: head.hash });
    }
    const head = carried.get(stream);
    if (head?.revision === revision - 1n) return head.hash;
    throw new SluiceError(
      "STORED_EVENT_INVALID",
      `stream "${stream}" has no event at revision ${revision - 1n} to chain revision ${revision} to`,
      { stream, revision: revision.toString() },
    );
  };
}
