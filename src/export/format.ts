import type { RawEvent } from "../eventstore/port.ts";
import type { SessionLookup } from "./commands.ts";

/** What a format writer gets from the export: where its records go and what it may ask the store. */
export interface FormatContext {
  /** Writes one record (one line of the format's file). */
  emit(line: string): void;
  lookupSession: SessionLookup;
  /** Hash of the event before `revision` in `stream`, for a stream whose earlier events lie before the export. */
  previousHash(stream: string, revision: bigint): Promise<string>;
}

/** One export format: its file, and the records each event of the range becomes. */
export interface FormatWriter {
  readonly file: string;
  /** A first line that is not a record (the CSV header). */
  readonly header?: string;
  /** A promise only when the writer had to ask the store something. */
  consume(event: RawEvent): Promise<void> | undefined;
  /** Records still held at the end of the range. */
  finish(): void;
}
