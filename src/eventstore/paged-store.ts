import type { NewEvent } from "../events/index.ts";
import { decode, parseStoredJson } from "./decode.ts";
import { ChangeSignal, liveSubscription } from "./live-subscription.ts";
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

const PAGE = 1000;

/** The columns both SQL engines select, in this order. */
export const EVENT_COLUMNS = "position, stream, revision, type, data, metadata, hash";

/** A selected row: integers arrive as bigint (SQLite) or decimal strings (PostgreSQL). */
export interface StoredRow {
  position: bigint | string;
  stream: string;
  revision: bigint | string;
  type: string;
  data: string;
  metadata: string;
  hash: string;
}

export function rowToRaw(row: StoredRow): RawEvent {
  // One literal, no spread: catch-up converts hundreds of thousands of rows a second.
  const place = { stream: row.stream, revision: BigInt(row.revision), position: BigInt(row.position) };
  return {
    stream: place.stream,
    revision: place.revision,
    position: place.position,
    type: row.type,
    data: parseStoredJson(row.data, place),
    metadata: parseStoredJson(row.metadata, place),
    hash: row.hash,
    text: { data: row.data, metadata: row.metadata },
  };
}
const MAX_REVISION = 2n ** 63n - 1n;

/**
 * What the SQL engines (SQLite, PostgreSQL) share: they only know how to read one page;
 * iteration, validation and catch-up-then-live subscriptions are built here once.
 */
export abstract class PagedStore implements EventStore {
  abstract readonly kind: EventStore["kind"];
  protected abstract readonly signal: ChangeSignal;
  protected abstract readonly pollMs: number;

  abstract append(stream: string, events: NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  abstract headPosition(): Promise<bigint>;
  abstract close(): Promise<void>;
  /** Events with position > `after`, in position order, at most `limit`. */
  protected abstract readAllPage(after: bigint, limit: number): Promise<RawEvent[]>;
  /** Events of `stream` from revision `from` (inclusive) in `direction`, at most `limit`. */
  protected abstract readStreamPage(
    stream: string,
    from: bigint,
    limit: number,
    direction: "forwards" | "backwards",
  ): Promise<RawEvent[]>;

  async *readAllRaw(options: ReadAllOptions = {}): AsyncGenerator<RawEvent> {
    for await (const page of this.allPages(options)) yield* page;
  }

  // Decodes page by page inside one generator: a generator per item costs more than the decoding.
  async *readAll(options: ReadAllOptions = {}): AsyncGenerator<RecordedEvent> {
    for await (const page of this.allPages(options)) yield* page.map(decode);
  }

  private async *allPages(options: ReadAllOptions): AsyncGenerator<RawEvent[]> {
    let after = options.after ?? 0n;
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY;
    while (remaining > 0) {
      const limit = Math.min(PAGE, remaining);
      const page = await this.readAllPage(after, limit);
      if (page.length > 0) yield page;
      if (page.length < limit) return;
      remaining -= page.length;
      after = (page[page.length - 1] as RawEvent).position;
    }
  }

  async *readStream(stream: string, options: ReadStreamOptions = {}): AsyncGenerator<RecordedEvent> {
    const direction = options.direction ?? "forwards";
    let from = options.fromRevision ?? (direction === "forwards" ? 0n : MAX_REVISION);
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY;
    while (remaining > 0) {
      const limit = Math.min(PAGE, remaining);
      const page = await this.readStreamPage(stream, from, limit, direction);
      for (const event of page) yield decode(event);
      if (page.length < limit) return;
      remaining -= page.length;
      const last = (page[page.length - 1] as RawEvent).revision;
      from = direction === "forwards" ? last + 1n : last - 1n;
      if (from < 0n) return;
    }
  }

  subscribeAll(options: { after?: bigint } = {}): Subscription<RecordedEvent> {
    let after = options.after ?? 0n;
    return liveSubscription(
      async () => {
        const page = await this.readAllPage(after, PAGE);
        if (page.length > 0) after = (page[page.length - 1] as RawEvent).position;
        return page.map(decode);
      },
      this.signal,
      this.pollMs,
    );
  }

  subscribeStream(stream: string, options: { fromRevision?: bigint } = {}): Subscription<RecordedEvent> {
    let from = options.fromRevision ?? 0n;
    const entry = this.streamSignal(stream);
    const subscription = liveSubscription(
      async () => {
        const page = await this.readStreamPage(stream, from, PAGE, "forwards");
        if (page.length > 0) from = (page[page.length - 1] as RawEvent).revision + 1n;
        return page.map(decode);
      },
      entry.signal,
      this.pollMs,
    );
    return {
      [Symbol.asyncIterator]: () => subscription[Symbol.asyncIterator](),
      close: async () => {
        await subscription.close();
        if (--entry.refs === 0) this.streamSignals.delete(stream);
      },
    };
  }

  /**
   * Appends made by this process wake the $all subscribers and only the subscribers of the
   * streams they touched: a stream subscription (one per session's credential, per approval
   * awaited) does not re-read its stream for every append to another.
   */
  protected notifyAppended(streams: readonly string[]): void {
    this.signal.notify();
    for (const stream of streams) this.streamSignals.get(stream)?.signal.notify();
  }

  /** A change of unknown streams (another process appended, the store closed) wakes every subscriber. */
  protected notifyAll(): void {
    this.signal.notify();
    for (const entry of this.streamSignals.values()) entry.signal.notify();
  }

  private readonly streamSignals = new Map<string, { signal: ChangeSignal; refs: number }>();

  private streamSignal(stream: string): { signal: ChangeSignal; refs: number } {
    let entry = this.streamSignals.get(stream);
    if (!entry) {
      entry = { signal: new ChangeSignal(), refs: 0 };
      this.streamSignals.set(stream, entry);
    }
    entry.refs += 1;
    return entry;
  }
}
