import { SluiceError } from "../errors.ts";
import type { NewEvent } from "../events/index.ts";
import { canonical, eventHash, GENESIS } from "./chain.ts";
import { checkExpectedRevision } from "./conflict.ts";
import type { ExpectedRevision } from "./port.ts";

/**
 * The engine-neutral half of an append, shared by the SQLite writer and PostgreSQL:
 * check the expected revision against the stream's head, number the events and chain
 * their hashes. The engine then writes the rows and assigns positions in one transaction.
 */

/** An event serialised once, on the appending thread, to the canonical text that is stored and hashed. */
export interface SerializedEvent {
  id: string;
  type: string;
  data: string;
  metadata: string;
}

export interface AppendRequest {
  stream: string;
  events: SerializedEvent[];
  expectedRevision: ExpectedRevision;
}

export interface StreamHead {
  revision: bigint;
  hash: string;
}

export interface EventRow extends SerializedEvent {
  stream: string;
  revision: bigint;
  hash: string;
}

export function appendRequest(
  stream: string,
  events: NewEvent[],
  expectedRevision: ExpectedRevision,
): AppendRequest {
  return {
    stream,
    expectedRevision,
    events: events.map((event) => ({
      id: event.metadata.eventId,
      type: event.type,
      data: canonical(event.data),
      metadata: canonical(event.metadata),
    })),
  };
}

export function planAppend(request: AppendRequest, head: StreamHead | undefined): EventRow[] | SluiceError {
  const { stream, events, expectedRevision } = request;
  const conflict = checkExpectedRevision(stream, expectedRevision, head ? head.revision : "no_stream");
  if (conflict) return conflict;
  if (events.length === 0) return new SluiceError("EVENT_INVALID", `append to "${stream}" carries no events`);
  let revision = head ? head.revision : -1n;
  let prevHash = head ? head.hash : GENESIS;
  return events.map((event) => {
    revision += 1n;
    prevHash = eventHash(prevHash, {
      stream,
      revision,
      type: event.type,
      dataJson: event.data,
      metadataJson: event.metadata,
    });
    const { id, type, data, metadata } = event;
    return { id, type, data, metadata, stream, revision, hash: prevHash };
  });
}
