import type { EventStore, RecordedEvent } from "./port.ts";

/**
 * Folds one stream into a decider's state, with the revision a decision on that state must
 * be appended at (`no_stream` when the stream is empty).
 */
export async function foldStream<S>(
  store: EventStore,
  stream: string,
  initial: S,
  evolve: (state: S, event: RecordedEvent) => S,
): Promise<{ state: S; revision: bigint | "no_stream" }> {
  let state = initial;
  let revision: bigint | "no_stream" = "no_stream";
  for await (const event of store.readStream(stream)) {
    state = evolve(state, event);
    revision = event.revision;
  }
  return { state, revision };
}
