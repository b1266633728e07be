import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { SluiceError } from "../errors.ts";
import type { EventStore } from "../eventstore/port.ts";
import { lastSeal, sealNow } from "../eventstore/seal.ts";
import type { SigningKeyRef } from "../eventstore/signed.ts";
import { CsvWriter } from "./csv.ts";
import { FileSink } from "./file-sink.ts";
import type { FormatContext, FormatWriter } from "./format.ts";
import { JsonlWriter } from "./jsonl.ts";
import {
  eventTime,
  lookupSession,
  positionBefore,
  previousHashReader,
  readRemovals,
  sealsOverlapping,
} from "./ledger-reads.ts";
import {
  type ExportFormat,
  type ExportManifest,
  type ManifestPayload,
  SEALS_FILE,
  writeManifest,
} from "./manifest.ts";
import { OcsfWriter } from "./ocsf.ts";
import { OCSF_VERSION } from "./ocsf-base.ts";

export interface ExportOptions {
  format: ExportFormat;
  /** Created if missing; must be empty. */
  outDir: string;
  /** The gateway's signing key: it signs the manifest. */
  key: SigningKeyRef;
  gatewayInstance: string;
  /** Time window: from the first event at or after `from` to the last before `to` (log order). */
  from?: Date;
  to?: Date;
  /** Position window, exclusive after / inclusive to; both windows apply when both are given. */
  afterPosition?: bigint;
  toPosition?: bigint;
  /** Seal what was appended so far first and end the range where that seal ends: all of it is sealed. */
  seal?: boolean;
  /** fsync files and directory (an archive about to replace the events it holds). */
  durable?: boolean;
  /** Called every few thousand events with events done and an estimate of the total. */
  onProgress?: (done: number, total: number) => void;
  now?: () => Date;
}

const PROGRESS_EVERY = 5000;

/**
 * Writes one export of the log: the format's file, streamed (memory stays bounded whatever the
 * range), then the signed manifest. The function behind `sluice export`, retention's archives and
 * the API's export job. Ranges removed by retention are skipped and their archives named instead.
 */
export async function runExport(store: EventStore, options: ExportOptions): Promise<ExportManifest> {
  prepareDir(options.outDir);
  const now = options.now ?? (() => new Date());
  if (options.seal) await sealNow(store, { key: options.key, gatewayInstance: options.gatewayInstance });
  // Seals made during the export are left out, so its counts and its seals agree.
  const previousSeal = await lastSeal(store);
  const sealedTo = previousSeal?.type === "LedgerSealed" ? BigInt(previousSeal.data.toPosition) : null;
  // A seal cannot cover its own event: with --seal the range ends where the last seal does.
  const head = options.seal ? (sealedTo ?? 0n) : await store.headPosition();
  const removals = await readRemovals(store);
  const removedTo = BigInt(removals.at(-1)?.toPosition ?? "0");
  const requestedAfter = options.afterPosition ?? 0n;
  const limit = options.toPosition !== undefined && options.toPosition < head ? options.toPosition : head;
  let after = requestedAfter > removedTo ? requestedAfter : removedTo;
  const from = options.from?.getTime();
  const to = options.to?.getTime();
  if (from !== undefined && after < limit) after = await positionBefore(store, from, after, limit);

  const sink = new FileSink(join(options.outDir, fileOf(options.format)));
  let wait: Promise<void> | undefined;
  const context: FormatContext = {
    emit(line) {
      const pending = sink.write(line);
      if (pending) wait = pending;
    },
    lookupSession: (sessionId) => lookupSession(store, sessionId),
    previousHash: previousHashReader(store),
  };
  const writer = makeWriter(options.format, context);
  const byType: { [type: string]: number } = {};
  let events = 0;
  let unsealed = 0;
  let started = false;
  let last = after;
  let firstTime: string | null = null;
  let lastTime: string | null = null;
  try {
    if (writer.header !== undefined) await sink.write(writer.header, true);
    for await (const event of store.readAllRaw({ after })) {
      if (event.position > limit) break;
      if (from !== undefined || to !== undefined) {
        const time = eventTime(event);
        if (!started && from !== undefined && time < from) {
          after = event.position; // before the window: the range starts after it
          continue;
        }
        if (to !== undefined && time >= to) break;
      }
      started = true;
      const pending = writer.consume(event);
      if (pending) await pending;
      if (wait) {
        await wait;
        wait = undefined;
      }
      events += 1;
      byType[event.type] = (byType[event.type] ?? 0) + 1;
      if (sealedTo === null || event.position > sealedTo) unsealed += 1;
      last = event.position;
      const time = (event.metadata as { time: string }).time;
      firstTime ??= time;
      lastTime = time;
      if (events % PROGRESS_EVERY === 0) options.onProgress?.(events, Number(limit - after));
    }
    writer.finish();
    if (wait) await wait;
  } catch (error) {
    sink.abort();
    rmSync(join(options.outDir, fileOf(options.format)), { force: true });
    throw error;
  }
  const file = await sink.finish({ durable: options.durable });
  options.onProgress?.(events, events);
  const seals = await writeSeals(store, join(options.outDir, SEALS_FILE), after, last, sealedTo ?? 0n);
  const sealsFile = await seals.sink.finish({ durable: options.durable });
  const payload: ManifestPayload = {
    kind: "sluice-export",
    version: 1,
    format: options.format,
    ...(options.format === "ocsf" ? { ocsfVersion: OCSF_VERSION } : {}),
    createdAt: now().toISOString(),
    gatewayInstance: options.gatewayInstance,
    store: store.kind,
    range: {
      from: options.from?.toISOString() ?? null,
      to: options.to?.toISOString() ?? null,
      afterPosition: after.toString(),
      toPosition: last.toString(),
      firstTime,
      lastTime,
    },
    counts: { events, records: file.records, byType },
    files: [file, sealsFile],
    seals: { file: SEALS_FILE, count: sealsFile.records },
    coverage: { sealedTo: seals.sealedTo, unsealedEvents: unsealed },
    removed: removals
      .filter((r) => BigInt(r.toPosition) > requestedAfter)
      .map((r) => ({
        fromPosition: r.fromPosition,
        toPosition: r.toPosition,
        removedAt: r.removedAt,
        archive: { manifestSha256: r.archive.manifestSha256, location: r.archive.location },
      })),
  };
  return writeManifest(options.outDir, payload, options.key, { durable: options.durable });
}

/** Streams the seals overlapping (after, last] that existed when the export began into their file. */
async function writeSeals(store: EventStore, path: string, after: bigint, last: bigint, sealedTo: bigint) {
  const sink = new FileSink(path);
  let to: string | null = null;
  for await (const seal of sealsOverlapping(store, after, last)) {
    if (BigInt(seal.data.toPosition) > sealedTo) break;
    const pending = sink.write(`{"position":"${seal.position}","data":${JSON.stringify(seal.data)}}`);
    if (pending) await pending;
    to = seal.data.toPosition;
  }
  return { sink, sealedTo: to };
}

export function fileOf(format: ExportFormat): string {
  return format === "jsonl" ? "events.jsonl" : format === "csv" ? "commands.csv" : "ocsf.jsonl";
}

function makeWriter(format: ExportFormat, context: FormatContext): FormatWriter {
  if (format === "jsonl") return new JsonlWriter(context);
  if (format === "csv") return new CsvWriter(context);
  return new OcsfWriter(context);
}

function prepareDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (readdirSync(dir).length > 0)
    throw new SluiceError("CONFIG_INVALID", `export directory ${dir} is not empty: exports never overwrite`);
}
