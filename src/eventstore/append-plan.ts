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

export interface AppendRequest {
  stream: string;
  events: NewEvent[];
  expectedRevision: ExpectedRevision;
}

export interface StreamHead {
  revision: bigint;
  hash: string;
}

export interface EventRow {
  stream: string;
  revision: bigint;
  id: string;
  type: string;
  data: string;
  metadata: string;
  hash: string;
}

export function planAppend(request: AppendRequest, head: StreamHead | undefined): EventRow[] | SluiceError {
  const { stream, events, expectedRevision } = request;
  const conflict = checkExpectedRevision(stream, expectedRevision, head ? head.revision : "no_stream");
  if (conflict) return conflict;
  if (events.length === 0) return new SluiceError("EVENT_INVALID", `append to "${stream}" carries no events`);
  let revision = head ? head.revision : -1n;
  let prevHash = head ? head.hash : GENESIS;
  const rows: EventRow[] = [];
  for (const event of events) {
    revision += 1n;
    const data = canonical(event.data);
    const metadata = canonical(event.metadata);
    const hash = eventHash(prevHash, {
      stream,
      revision,
      type: event.type,
      dataJson: data,
      metadataJson: metadata,
    });
    rows.push({ stream, revision, id: event.metadata.eventId, type: event.type, data, metadata, hash });
    prevHash = hash;
  }
  return rows;
}
