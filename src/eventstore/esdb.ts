import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  excludeSystemEvents,
  FORWARDS,
  type ReadableSubscription,
  START,
  streamNameFilter,
} from "@eventstore/db-client";
import { SluiceError } from "../errors.ts";
import type { NewEvent } from "../events/index.ts";
import { type AppendRequest, appendRequest, planAppend, type StreamHead } from "./append-plan.ts";
import { WrongExpectedRevisionError } from "./conflict.ts";
import { decodeAll } from "./decode.ts";
import {
  EsdbStreamNames,
  fromAll,
  normaliseConnectionString,
  storeError,
  toEventData,
  toRaw,
  wrongExpectedVersion,
} from "./esdb-codec.ts";
import { drain, liveSubscription } from "./esdb-streaming.ts";
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  RawEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  Subscription,
} from "./port.ts";

export interface EsdbStoreOptions {
  /** `esdb://`, `esdb+discover://` or `kurrentdb://` connection string. */
  connectionString: string;
  /** Accepted like the other adapters' option; unused, since the server pushes live events. */
  pollMs?: number;
  /** Keeps this store's streams apart from others on the same cluster (`<namespace>:<stream>`). */
  namespace?: string;
}

/** Head races lost in a row before an `any`/`stream_exists` append gives up with a conflict. */
const MAX_TRIES = 10;

/**
 * The store for EventStoreDB/KurrentDB clusters. Positions are commit positions in $all
 * (one per event for everything written through gRPC); every append is acknowledged
 * durable by the server, so there is no group commit here.
 */
export async function openEsdbStore(options: EsdbStoreOptions): Promise<EventStore> {
  let client: EventStoreDBClient;
  try {
    client = EventStoreDBClient.connectionString(normaliseConnectionString(options.connectionString));
  } catch {
    // The parser's message repeats the string, credentials included: keep it out of logs.
    throw new SluiceError("CONFIG_INVALID", "store.url is not a valid EventStoreDB connection string");
  }
  try {
    // The client connects lazily: one read proves now that the server answers and lets us read $all.
    for await (const _ of drain(client.readAll({ maxCount: 1 }), "open the EventStoreDB store")) break;
  } catch (error) {
    await client.dispose().catch(() => {});
    throw error;
  }
  return new EsdbEventStore(client, new EsdbStreamNames(options.namespace));
}

class EsdbEventStore implements EventStore {
  readonly kind = "esdb" as const;
  private closed = false;
  /** Per stream, the tail of this process's appends to it (settled, never rejecting). */
  private readonly tails = new Map<string, Promise<void>>();
  private readonly live = new Set<Subscription<RecordedEvent>>();

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly names: EsdbStreamNames,
  ) {}

  append(stream: string, events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new SluiceError("STORE_CLOSED", "the event store is closed"));
    let request: AppendRequest;
    try {
      request = appendRequest(stream, events, options.expectedRevision ?? "any");
    } catch (error) {
      return Promise.reject(error);
    }
    // Appends to one stream from this process queue up: run together they would only lose head races.
    const result = (this.tails.get(stream) ?? Promise.resolve()).then(() => this.appendNow(request));
    const tail = result.then(
      () => {},
      () => {},
    );
    this.tails.set(stream, tail);
    void tail.then(() => {
      if (this.tails.get(stream) === tail) this.tails.delete(stream);
    });
    return result;
  }

  private async appendNow(request: AppendRequest): Promise<AppendResult> {
    const name = this.names.toEsdb(request.stream);
    for (let attempt = 1; ; attempt++) {
      const head = await this.streamHead(name);
      const rows = planAppend(request, head);
      if (rows instanceof Error) throw rows;
      try {
        // The exact revision the hashes chain from, whatever the caller expected: an append
        // that slipped in since the head was read must fail here, not fork the chain.
        const expectedRevision = head ? head.revision : "no_stream";
        const result = await this.client.appendToStream(name, rows.map(toEventData), { expectedRevision });
        if (!result.position)
          throw new SluiceError("INTERNAL", "EventStoreDB acked an append without a position");
        return { nextExpectedRevision: result.nextExpectedRevision, position: result.position.commit };
      } catch (error) {
        const actual = wrongExpectedVersion(error);
        if (actual === null) throw storeError(error, `append to "${request.stream}"`, "EVENT_INVALID");
        const expected = request.expectedRevision;
        const retry = (expected === "any" || expected === "stream_exists") && attempt < MAX_TRIES;
        if (!retry) throw new WrongExpectedRevisionError(request.stream, expected, actual);
      }
    }
  }

  /** The stream's last revision and hash, read backwards; undefined when it does not exist. */
  private async streamHead(name: string): Promise<StreamHead | undefined> {
    const read = this.client.readStream(name, { direction: BACKWARDS, fromRevision: END, maxCount: 1 });
    for await (const resolved of drain(read, `read the head of "${name}"`)) {
      const raw = toRaw(resolved, this.names);
      if (raw) return { revision: raw.revision, hash: raw.hash };
    }
    return undefined;
  }

  readStream(stream: string, options: ReadStreamOptions = {}): AsyncIterable<RecordedEvent> {
    return decodeAll(this.readStreamRaw(stream, options));
  }

  private async *readStreamRaw(stream: string, options: ReadStreamOptions): AsyncGenerator<RawEvent> {
    if (options.maxCount !== undefined && options.maxCount <= 0) return;
    const backwards = options.direction === "backwards";
    const read = this.client.readStream(this.names.toEsdb(stream), {
      direction: backwards ? BACKWARDS : FORWARDS,
      fromRevision: options.fromRevision ?? (backwards ? END : START),
      maxCount: options.maxCount,
    });
    for await (const resolved of drain(read, `read "${stream}"`)) {
      const raw = toRaw(resolved, this.names);
      if (raw) yield raw;
    }
  }

  readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    return decodeAll(this.readAllRaw(options));
  }

  async *readAllRaw(options: ReadAllOptions = {}): AsyncGenerator<RawEvent> {
    let left = options.maxCount ?? Number.POSITIVE_INFINITY;
    if (left <= 0) return;
    const after = options.after ?? -1n;
    // No server-side count: system events are filtered here, so it would not match `maxCount`.
    const read = this.client.readAll({
      fromPosition: after > 0n ? { commit: after, prepare: after } : START,
    });
    for await (const resolved of drain(read, "read $all")) {
      const raw = fromAll(resolved, this.names);
      // fromPosition is inclusive: the event at `after` itself comes back first.
      if (!raw || raw.position <= after) continue;
      yield raw;
      if (--left === 0) return;
    }
  }

  subscribeAll(options: { after?: bigint } = {}): Subscription<RecordedEvent> {
    const after = options.after ?? -1n;
    const source = this.client.subscribeToAll({
      // A subscription starts after its position; events at or before `after` are still dropped below.
      fromPosition: after > 0n ? { commit: after, prepare: after } : START,
      filter: this.names.prefix ? streamNameFilter({ prefixes: [this.names.prefix] }) : excludeSystemEvents(),
    });
    return this.track(source, (resolved) => {
      const raw = fromAll(resolved, this.names);
      return raw && raw.position > after ? raw : undefined;
    });
  }

  subscribeStream(stream: string, options: { fromRevision?: bigint } = {}): Subscription<RecordedEvent> {
    const from = options.fromRevision ?? 0n;
    // ESDB's fromRevision is exclusive for subscriptions; the port's is inclusive.
    const source = this.client.subscribeToStream(this.names.toEsdb(stream), {
      fromRevision: from > 0n ? from - 1n : START,
    });
    return this.track(source, (resolved) => {
      const raw = toRaw(resolved, this.names);
      return raw && raw.revision >= from ? raw : undefined;
    });
  }

  private track<R>(
    source: ReadableSubscription<R>,
    select: (resolved: R) => RawEvent | undefined,
  ): Subscription<RecordedEvent> {
    const subscription = liveSubscription(source, select, () => this.live.delete(subscription));
    this.live.add(subscription);
    return subscription;
  }

  async headPosition(): Promise<bigint> {
    const read = this.client.readAll({ fromPosition: END, direction: BACKWARDS });
    for await (const resolved of drain(read, "read the head of $all")) {
      if (fromAll(resolved, this.names))
        return (resolved.event as { position: { commit: bigint } }).position.commit;
    }
    return 0n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.tails.values()]);
    await Promise.all([...this.live].map((subscription) => subscription.close()));
    await this.client.dispose();
  }
}
