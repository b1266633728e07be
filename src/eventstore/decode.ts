import { SluiceError } from "../errors.ts";
import { validateEvent } from "../events/index.ts";
import type { RawEvent, RecordedEvent } from "./port.ts";

/** Validates a stored event against the catalogue; a malformed one is an error naming its place. */
export function decode(raw: RawEvent): RecordedEvent {
  const result = validateEvent(raw.type, raw.data, raw.metadata);
  if (!result.ok) throw storedEventInvalid(raw, result.message);
  // One literal, no spread: catch-up decodes hundreds of thousands of these a second.
  return {
    type: result.event.type,
    data: result.event.data,
    metadata: result.event.metadata,
    stream: raw.stream,
    revision: raw.revision,
    position: raw.position,
    hash: raw.hash,
  } as RecordedEvent;
}

export function storedEventInvalid(
  place: { stream: string; revision: bigint; position: bigint },
  message: string,
): SluiceError {
  return new SluiceError(
    "STORED_EVENT_INVALID",
    `stored event at position ${place.position} (stream "${place.stream}", revision ${place.revision}) is invalid: ${message}`,
    { stream: place.stream, revision: place.revision.toString(), position: place.position.toString() },
  );
}

/** Parses stored JSON text, naming the event's place when it is not JSON. */
export function parseStoredJson(
  text: string,
  place: { stream: string; revision: bigint; position: bigint },
): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw storedEventInvalid(place, `not JSON (${(error as Error).message})`);
  }
}

export async function* decodeAll(raws: AsyncIterable<RawEvent>): AsyncGenerator<RecordedEvent> {
  for await (const raw of raws) yield decode(raw);
}
