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
  const metadata: EventMetadata = {
    // UUIDv7: time-ordered, so the unique index on event ids grows at its end.
    eventId: context.eventId ?? uuidv7(),
    time: (context.time ?? new Date()).toISOString(),
    gatewayInstance: context.gatewayInstance,
  };
  // Only keys with a value: an undefined key would not survive the JSON round trip.
  for (const key of OPTIONAL_KEYS) {
    const value = context[key];
    if (value !== undefined) metadata[key] = value;
  }
  return metadata;
}

const OPTIONAL_KEYS = ["actor", "sessionId", "taskId", "correlationId", "causationId"] as const;
