import { rmSync } from "node:fs";
import { join } from "node:path";
import type { CryptoKey } from "jose";
import { isSluiceError, SluiceError } from "../errors.ts";
import { type EventData, makeMetadata, newEvent, SEALS_STREAM } from "../events/index.ts";
import { RETENTION_STREAM } from "../events/retention.ts";
import { WrongExpectedRevisionError } from "../eventstore/conflict.ts";
import type { EventStore, ExpectedRevision } from "../eventstore/port.ts";
import { type SigningKeyRef, signCanonical } from "../eventstore/signed.ts";
import { runExport } from "./export.ts";
import { readManifest } from "./manifest.ts";
import { verifyExport } from "./verify-export.ts";

/**
 * Retention: events older than the hot period leave the store, a whole sealed range at a time,
 * oldest first. Each range is first exported as a durable JSONL archive whose events are proved
 * against the range's seals; then, in one transaction, its events are deleted and a signed
 * LedgerRangeRemoved is appended naming the range, its seals, the archive's manifest hash, what
 * stayed (the kept streams) and where cut streams go on. `sluice verify` accepts exactly that gap.
 */

export interface RetentionOptions {
  key: SigningKeyRef & { publicKey: CryptoKey };
  gatewayInstance: string;
  /** Ranges whose seal was made before this time are removed. */
  olderThan: Date;
  archiveDir: string;
  /** At most this many events per removal (one transaction, one archive each). */
  maxEventsPerRemoval: number;
  /** Report what would be removed; export and remove nothing. */
  dryRun?: boolean;
  now?: () => Date;
}

export interface RemovedRangeReport {
  fromPosition: string;
  toPosition: string;
  seals: number;
  events: number;
  /** Events deleted (the rest belong to kept streams). */
  removed?: number;
  archive?: string;
}

type SealData = EventData<"LedgerSealed">;

export async function runRetention(
  store: EventStore,
  options: RetentionOptions,
): Promise<RemovedRangeReport[]> {
  if (!store.removalFacts || !store.removeRange) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `retention needs the SQLite or PostgreSQL store; the ${store.kind} store does not support removal (use the server's own stream limits)`,
    );
  }
  const done: RemovedRangeReport[] = [];
  let { removedTo, expectedRevision } = await retentionHead(store);
  for (;;) {
    const seals = await nextRange(store, removedTo, options);
    if (seals.length === 0) return done;
    const after = removedTo;
    const to = BigInt((seals.at(-1) as SealData).toPosition);
    const events = seals.reduce((sum, seal) => sum + seal.count, 0);
    const range = { fromPosition: after.toString(), toPosition: to.toString(), seals: seals.length, events };
    if (options.dryRun) {
      done.push(range);
    } else {
      const removed = await removeRange(store, options, seals, after, to, expectedRevision);
      if (!removed) return done; // another instance removed it first
      done.push({ ...range, ...removed.report });
      expectedRevision = removed.revision;
    }
    removedTo = to;
  }
}

async function retentionHead(
  store: EventStore,
): Promise<{ removedTo: bigint; expectedRevision: ExpectedRevision }> {
  for await (const event of store.readStream(RETENTION_STREAM, { direction: "backwards", maxCount: 1 })) {
    const removedTo = event.type === "LedgerRangeRemoved" ? BigInt(event.data.toPosition) : 0n;
    return { removedTo, expectedRevision: event.revision };
  }
  return { removedTo: 0n, expectedRevision: "no_stream" };
}

/** The seals that make the next range: contiguous from `removedTo`, sealed before the cut-off, within the size limit. */
async function nextRange(
  store: EventStore,
  removedTo: bigint,
  options: RetentionOptions,
): Promise<SealData[]> {
  const cutoff = options.olderThan.getTime();
  const seals: SealData[] = [];
  let at = removedTo;
  let events = 0;
  for await (const event of store.readStream(SEALS_STREAM)) {
    if (event.type !== "LedgerSealed") continue;
    const seal = event.data;
    if (BigInt(seal.toPosition) <= at) continue;
    if (BigInt(seal.fromPosition) !== at || Date.parse(seal.sealedAt) >= cutoff) break;
    if (seals.length > 0 && events + seal.count > options.maxEventsPerRemoval) break;
    seals.push(seal);
    events += seal.count;
    at = BigInt(seal.toPosition);
  }
  return seals;
}

async function removeRange(
  store: EventStore,
  options: RetentionOptions,
  seals: SealData[],
  after: bigint,
  to: bigint,
  expectedRevision: ExpectedRevision,
): Promise<{ report: { removed: number; archive: string }; revision: bigint } | null> {
  const location = `ledger-${after}-${to}`;
  const dir = join(options.archiveDir, location);
  // A directory left by an interrupted run was never named by a removal: start it afresh.
  rmSync(dir, { recursive: true, force: true });
  const manifest = await runExport(store, {
    format: "jsonl",
    outDir: dir,
    key: options.key,
    gatewayInstance: options.gatewayInstance,
    afterPosition: after,
    toPosition: to,
    durable: true,
  });
  const check = await verifyExport(dir, options.key.publicKey);
  const expected = seals.reduce((sum, seal) => sum + seal.count, 0);
  if (
    !check.ok ||
    check.sealsProved !== seals.length ||
    manifest.counts.events !== expected ||
    manifest.range.afterPosition !== after.toString() ||
    manifest.range.toPosition !== to.toString()
  ) {
    throw new SluiceError(
      "INTERNAL",
      `the archive of ${after}..${to} does not prove its ${seals.length} seals (${check.problem ?? `${manifest.counts.events} of ${expected} events`}); nothing was removed`,
    );
  }
  const manifestSha256 = readManifest(dir).sha256;
  // The facts are checked again inside the removal's transaction; an append in between means planning again.
  for (let attempt = 1; ; attempt++) {
    const range = { after, to };
    const facts = await store.removalFacts?.(range);
    if (!facts) throw new SluiceError("INTERNAL", "the store lost its removal support");
    const data = await signCanonical(
      {
        fromPosition: after.toString(),
        toPosition: to.toString(),
        removed: facts.removed,
        seals: seals.map((s) => ({
          fromPosition: s.fromPosition,
          toPosition: s.toPosition,
          count: s.count,
          merkleRoot: s.merkleRoot,
        })),
        kept: facts.kept,
        carried: facts.carried,
        archive: { format: "jsonl" as const, manifestSha256, location },
        removedAt: (options.now?.() ?? new Date()).toISOString(),
      },
      options.key,
    );
    const event = newEvent(
      "LedgerRangeRemoved",
      data,
      makeMetadata({ gatewayInstance: options.gatewayInstance, actor: "retention" }),
    );
    try {
      const result = await store.removeRange?.({ range, facts, event, expectedRevision });
      if (!result) throw new SluiceError("INTERNAL", "the store lost its removal support");
      return { report: { removed: facts.removed, archive: dir }, revision: result.nextExpectedRevision };
    } catch (error) {
      if (error instanceof WrongExpectedRevisionError) return null;
      if (isSluiceError(error, "WRONG_EXPECTED_REVISION") && attempt < 3) continue;
      throw error;
    }
  }
}
