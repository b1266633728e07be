import type { z } from "zod";
import { SluiceError } from "../errors.ts";
import { approvalEvents } from "./approval.ts";
import { credentialEvents } from "./credential.ts";
import { exportEvents } from "./export.ts";
import { type EventMetadata, eventMetadata } from "./metadata.ts";
import { notificationEvents } from "./notification.ts";
import { policyEvents } from "./policy.ts";
import { retentionEvents } from "./retention.ts";
import { sealEvents } from "./seal.ts";
import { sessionEvents } from "./session.ts";
import { targetEvents } from "./target.ts";
import { taskEvents } from "./task.ts";

export * from "./common.ts";
export * from "./metadata.ts";
export * from "./streams.ts";

/** The whole event catalogue: event type → schema of its data. */
export const catalogue = {
  ...sessionEvents,
  ...approvalEvents,
  ...credentialEvents,
  ...policyEvents,
  ...targetEvents,
  ...taskEvents,
  ...sealEvents,
  ...retentionEvents,
  ...notificationEvents,
  ...exportEvents,
} as const;

type Catalogue = typeof catalogue;
export type EventType = keyof Catalogue;
export type EventData<T extends EventType> = z.output<Catalogue[T]>;
export type EventInput<T extends EventType> = z.input<Catalogue[T]>;

/** A domain event: the discriminated union over the whole catalogue. */
export type SluiceEvent = { [T in EventType]: { type: T; data: EventData<T> } }[EventType];
export type EventOfType<T extends EventType> = Extract<SluiceEvent, { type: T }>;

/** An event ready to append. */
export type NewEvent = SluiceEvent & { metadata: EventMetadata };

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(catalogue, type);
}

export interface ValidationFailure {
  ok: false;
  message: string;
}

/** Validates an event's type, data and metadata against the catalogue. */
export function validateEvent(
  type: string,
  data: unknown,
  metadata: unknown,
): { ok: true; event: NewEvent } | ValidationFailure {
  if (!isEventType(type)) return { ok: false, message: `unknown event type "${type}"` };
  const parsedData = catalogue[type].safeParse(data);
  if (!parsedData.success)
    return { ok: false, message: `invalid ${type} data: ${summarise(parsedData.error)}` };
  const parsedMetadata = eventMetadata.safeParse(metadata);
  if (!parsedMetadata.success) {
    return { ok: false, message: `invalid ${type} metadata: ${summarise(parsedMetadata.error)}` };
  }
  return { ok: true, event: { type, data: parsedData.data, metadata: parsedMetadata.data } as NewEvent };
}

/** Builds a new event, validating it now so a bad event never reaches the store. */
export function newEvent<T extends EventType>(
  type: T,
  data: EventInput<T>,
  metadata: EventMetadata,
): NewEvent {
  const result = validateEvent(type, data, metadata);
  if (!result.ok) throw new SluiceError("EVENT_INVALID", result.message, { type });
  return result.event;
}

function summarise(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`)
    .join("; ");
}
