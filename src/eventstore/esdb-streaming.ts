import type { ReadableSubscription, StreamingRead } from "@eventstore/db-client";
import { SluiceError } from "../errors.ts";
import { decode } from "./decode.ts";
import { isStreamNotFound, storeError } from "./esdb-codec.ts";
import type { RawEvent, RecordedEvent, Subscription } from "./port.ts";

/** The client's reads and subscriptions (Node streams) as the async iterables the port hands out. */

/** Iterates a client read; cancels the call when the consumer stops early; a missing stream reads as empty. */
export async function* drain<E>(read: StreamingRead<E>, doing: string): AsyncGenerator<E> {
  let finished = false;
  try {
    for await (const item of read) yield item;
    finished = true;
  } catch (error) {
    finished = true;
    if (!isStreamNotFound(error)) throw storeError(error, doing);
  } finally {
    if (!finished) await read.cancel().catch(() => {});
  }
}

/** A client subscription as the port's: decoded events until `close()`, then the iteration ends. */
export function liveSubscription<R>(
  source: ReadableSubscription<R>,
  select: (resolved: R) => RawEvent | undefined,
  onClose: () => void,
): Subscription<RecordedEvent> {
  let closed = false;
  let stop = () => {};
  const stopped = new Promise<IteratorReturnResult<undefined>>((resolve) => {
    stop = () => resolve({ done: true, value: undefined });
  });
  const resolvedEvents = source[Symbol.asyncIterator]();

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    stop();
    onClose();
    await source.unsubscribe().catch(() => {});
    source.destroy();
  }

  async function* run(): AsyncGenerator<RecordedEvent> {
    try {
      while (!closed) {
        const next = resolvedEvents.next();
        next.catch(() => {}); // it may settle after close() has won the race below
        let item: IteratorResult<R>;
        try {
          // Raced against close(), which must end an iteration waiting for the next live event.
          item = await Promise.race([next, stopped]);
        } catch (error) {
          if (closed) return;
          throw storeError(error, "follow an EventStoreDB subscription");
        }
        if (item.done) {
          if (closed) return;
          throw new SluiceError("STORE_UNAVAILABLE", "the EventStoreDB subscription ended unexpectedly");
        }
        const raw = select(item.value);
        if (raw) yield decode(raw);
      }
    } finally {
      await close(); // also when the iteration ends on an error or the consumer stops early
    }
  }

  const iterator = run();
  return { [Symbol.asyncIterator]: () => iterator, close };
}
