import { LRUCache } from "lru-cache";
import { canonical, GENESIS } from "../eventstore/chain.ts";
import type { RawEvent } from "../eventstore/port.ts";
import type { FormatContext, FormatWriter } from "./format.ts";

/**
 * JSONL: every event of the range as stored, one per line, with what verification needs —
 * position, stream, revision, type, the hash of the stream's previous event, its own hash, and
 * data and metadata as the canonical JSON that was hashed:
 *   {"position":"12","stream":"session-…","revision":"3","type":"CommandDecided","prevHash":"…","hash":"…","data":{…},"metadata":{…}}
 */
export class JsonlWriter implements FormatWriter {
  readonly file = "events.jsonl";
  /** Last exported event per stream; a stream evicted or begun before the range asks the store. */
  private readonly heads = new LRUCache<string, { revision: bigint; hash: string }>({ max: 20_000 });

  constructor(private readonly context: FormatContext) {}

  consume(event: RawEvent): Promise<void> | undefined {
    const head = this.heads.get(event.stream);
    if (head && head.revision === event.revision - 1n) {
      const prevHash = head.hash;
      // Updated in place: no allocation per event on the common path.
      head.revision = event.revision;
      head.hash = event.hash;
      this.write(event, prevHash);
      return undefined;
    }
    if (event.revision === 0n) {
      this.remember(event);
      this.write(event, GENESIS);
      return undefined;
    }
    return this.context.previousHash(event.stream, event.revision).then((prevHash) => {
      this.remember(event);
      this.write(event, prevHash);
    });
  }

  finish(): void {}

  private remember(event: RawEvent): void {
    this.heads.set(event.stream, { revision: event.revision, hash: event.hash });
  }

  private write(event: RawEvent, prevHash: string): void {
    const data = event.text?.data ?? canonical(event.data);
    const metadata = event.text?.metadata ?? canonical(event.metadata);
    this.context.emit(
      `{"position":"${event.position}","stream":${JSON.stringify(event.stream)},"revision":"${event.revision}"` +
        `,"type":${JSON.stringify(event.type)},"prevHash":"${prevHash}","hash":"${event.hash}"` +
        `,"data":${data},"metadata":${metadata}}`,
    );
  }
}
