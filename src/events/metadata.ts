import { v7 as uuidv7 } from "uuid";
import { z } from "zod";
import { id, isoTime } from "./common.ts";

/** Metadata carried by every event. */
export const eventMetadata = z.object({
  eventId: z.uuid(),
  time: isoTime,
  gatewayInstance: z.string().min(1),
  actor: z.string().optional(),
  sessionId: id.optional(),
  taskId: id.optional(),
  correlationId: z.string().optional(),
  causationId: z.string().optional(),
});
export type EventMetadata = z.infer<typeof eventMetadata>;

/** What a caller knows when it appends; eventId and time are filled in. */
export type MetadataContext = Omit<EventMetadata, "eventId" | "time"> & { eventId?: string; time?: Date };

export function makeMetadata(context: MetadataContext): EventMetadata {
  const { eventId, time, ...rest } = context;
  const metadata: EventMetadata = {
    // UUIDv7: time-ordered, so the unique index on event ids grows at its end.
    eventId: eventId ?? uuidv7(),
    time: (time ?? new Date()).toISOString(),
    ...rest,
  };
  // Undefined optional keys would not survive a JSON round trip; keep stored metadata exact.
  for (const key of Object.keys(metadata) as (keyof EventMetadata)[]) {
    if (metadata[key] === undefined) delete metadata[key];
  }
  return metadata;
}
