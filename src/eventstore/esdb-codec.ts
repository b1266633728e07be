import {
  type AllStreamResolvedEvent,
  ErrorType,
  type EventData,
  isCommandError,
  type JSONType,
  jsonEvent,
  type ResolvedEvent,
} from "@eventstore/db-client";
import { SluiceError } from "../errors.ts";
import type { EventRow } from "./append-plan.ts";
import type { RawEvent } from "./port.ts";

/**
 * How Sluice's events look in EventStoreDB/KurrentDB: stream names, the JSON event with
 * the chain hash in its metadata, and the client's errors as SluiceErrors.
 */

/** Metadata key holding the event's chain hash; stripped on read so metadata reads back as appended. */
const HASH_KEY = "$sluiceHash";
/** `$`-streams are system streams in ESDB (restricted), so Sluice's `$seals` lives under this prefix. */
const PREFIX = "sluice-";

/**
 * Sluice stream names ↔ ESDB stream names. Without a namespace, names that start with `$` or
 * the prefix get the prefix (one-to-one both ways). With a namespace every stream is stored as
 * `<namespace>:<stream>` and only those are this store's: several Sluice deployments (or test
 * runs) can share one cluster, each seeing its own log in $all.
 */
export class EsdbStreamNames {
  private readonly scope: string | undefined;

  constructor(namespace?: string) {
    this.scope = namespace ? `${namespace}:` : undefined;
  }

  toEsdb(stream: string): string {
    if (this.scope) return this.scope + stream;
    return stream.startsWith("$") || stream.startsWith(PREFIX) ? PREFIX + stream : stream;
  }

  /** The Sluice name, or undefined for a stream that is not this store's (another namespace, the server's own). */
  fromEsdb(esdbStream: string): string | undefined {
    if (this.scope)
      return esdbStream.startsWith(this.scope) ? esdbStream.slice(this.scope.length) : undefined;
    if (esdbStream.startsWith("$")) return undefined;
    return esdbStream.startsWith(PREFIX) ? esdbStream.slice(PREFIX.length) : esdbStream;
  }

  /** Server-side prefix for $all subscriptions, when namespaced. */
  get prefix(): string | undefined {
    return this.scope;
  }
}

/** The v6 client only parses `esdb://`; KurrentDB's newer schemes name the same thing. */
export function normaliseConnectionString(connectionString: string): string {
  return connectionString.replace(/^(?:kurrentdb|kurrent|kdb)(\+discover)?:\/\//i, "esdb$1://");
}

/** Server-side records in $all (stats, settings, metadata, links): every one has a `$` type or stream. */
export function isSystemEvent(event: { type: string; streamId: string }): boolean {
  return event.type.startsWith("$") || event.streamId.startsWith("$");
}

/** An event read from $all as RawEvent; undefined for the server's own events and other namespaces'. */
export function fromAll(resolved: AllStreamResolvedEvent, names: EsdbStreamNames): RawEvent | undefined {
  return resolved.event && !isSystemEvent(resolved.event) ? toRaw(resolved, names) : undefined;
}

export function toEventData(row: EventRow): EventData {
  // Parses the canonical text rather than reusing the caller's objects, so what is stored is what was hashed.
  const metadata = { ...(JSON.parse(row.metadata) as Record<string, unknown>), [HASH_KEY]: row.hash };
  return jsonEvent({ id: row.id, type: row.type, data: JSON.parse(row.data) as JSONType, metadata });
}

/** A stored event as RawEvent; undefined for a bare link, which Sluice never writes. */
export function toRaw(
  resolved: ResolvedEvent | AllStreamResolvedEvent,
  names: EsdbStreamNames,
): RawEvent | undefined {
  const event = resolved.event;
  if (!event) return undefined;
  const stream = names.fromEsdb(event.streamId);
  if (stream === undefined) return undefined;
  // Per-event positions on stream reads arrived in server 22.6; $all reads always carry them.
  const position = event.position?.commit ?? resolved.commitPosition;
  if (position === undefined) {
    throw new SluiceError(
      "STORE_UNAVAILABLE",
      `EventStoreDB returned no position for "${stream}" revision ${event.revision}: a server ≥ 22.10 is required`,
    );
  }
  const { metadata, hash } = splitMetadata(event.metadata);
  // The client parses JSON itself; malformed data arrives as text and fails validation in decode().
  return { stream, revision: event.revision, position, type: event.type, data: event.data, metadata, hash };
}

function splitMetadata(stored: unknown): { metadata: unknown; hash: string } {
  if (
    stored === null ||
    typeof stored !== "object" ||
    Array.isArray(stored) ||
    stored instanceof Uint8Array
  ) {
    return { metadata: stored, hash: "" };
  }
  const { [HASH_KEY]: hash, ...metadata } = stored as Record<string, unknown>;
  return { metadata, hash: typeof hash === "string" ? hash : "" };
}

export function isStreamNotFound(error: unknown): boolean {
  return error instanceof Error && isCommandError(error) && error.type === ErrorType.STREAM_NOT_FOUND;
}

/** The client's current revision from a wrong-expected-version error, or null for any other error. */
export function wrongExpectedVersion(error: unknown): bigint | "no_stream" | null {
  if (!(error instanceof Error) || !isCommandError(error)) return null;
  return error.type === ErrorType.WRONG_EXPECTED_VERSION ? error.actualVersion : null;
}

const CONNECTION_ERRORS: ReadonlySet<ErrorType> = new Set([
  ErrorType.UNAVAILABLE,
  ErrorType.DEADLINE_EXCEEDED,
  ErrorType.TIMEOUT,
  ErrorType.CANCELLED,
  ErrorType.NOT_LEADER,
  ErrorType.ACCESS_DENIED,
]);

/**
 * A client failure as a SluiceError: unreachable, timed out, no leader or refused access is
 * STORE_UNAVAILABLE (so is any non-command error: the client raises discovery and channel
 * failures as plain errors); anything else the server refused is `otherwise`.
 */
export function storeError(
  error: unknown,
  doing: string,
  otherwise: "EVENT_INVALID" | "INTERNAL" = "INTERNAL",
): SluiceError {
  if (error instanceof SluiceError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const connection = !(error instanceof Error) || !isCommandError(error) || CONNECTION_ERRORS.has(error.type);
  return connection
    ? new SluiceError(
        "STORE_UNAVAILABLE",
        `cannot ${doing}: EventStoreDB is unavailable (${message})`,
        {},
        {
          cause: error,
        },
      )
    : new SluiceError(
        otherwise,
        `cannot ${doing}: EventStoreDB refused it (${message})`,
        {},
        { cause: error },
      );
}
