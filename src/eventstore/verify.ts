import type { CryptoKey } from "jose";
import { isSluiceError } from "../errors.ts";
import { SEALS_STREAM, validateEvent } from "../events/index.ts";
import { canonical, eventHash, GENESIS, MerkleAccumulator } from "./chain.ts";
import type { EventStore, RawEvent } from "./port.ts";
import { loadRemovedRanges, RemovedRanges } from "./removal-verify.ts";
import { checkSealSignature, type SealData } from "./seal.ts";

export interface BrokenPlace {
  stream: string;
  revision: bigint;
  position: bigint;
  reason: string;
}

export interface VerifyReport {
  ok: boolean;
  events: number;
  streams: number;
  seals: number;
  /** Events after the last seal's range: chained, but not yet provable against removal at the tail. */
  unsealed: number;
  broken?: BrokenPlace;
  /** Ranges removed by retention (each archived first, its removal signed) and the events they held. */
  removed?: { ranges: number; events: number };
}

/**
 * Walks the whole log in $all order and checks, for every event: canonical stored bytes,
 * valid against the catalogue, the next revision of its stream, its hash chained to the
 * previous event of the stream; and for every seal: its signature, that its range starts
 * where the previous one ended, and that count and Merkle root match the events in it.
 * Stops at the first broken place.
 */
export async function verifyLedger(
  store: EventStore,
  publicKey: CryptoKey,
  onProgress?: (events: number) => void,
): Promise<VerifyReport> {
  const heads = new Map<string, { revision: bigint; hash: string }>();
  let pending: { position: bigint; hash: string }[] = [];
  let sealedTo = 0n;
  let events = 0;
  let seals = 0;
  let removals: RemovedRanges | undefined;
  const report = (broken?: BrokenPlace): VerifyReport => ({
    ok: broken === undefined,
    events,
    streams: heads.size,
    seals,
    unsealed: pending.length,
    ...(broken ? { broken } : {}),
    ...(removals?.count ? { removed: { ranges: removals.count, events: removals.removedEvents } } : {}),
  });

  try {
    const ranges = await loadRemovedRanges(store, publicKey);
    if (!(ranges instanceof RemovedRanges)) return report(ranges);
    removals = ranges;
    for await (const event of store.readAllRaw()) {
      const fail = (reason: string) => report({ ...place(event), reason });
      const head =
        heads.get(event.stream) ?? ranges.carriedHead(event.stream, event.position, event.revision);
      const expectedRevision = head ? head.revision + 1n : 0n;
      if (event.revision !== expectedRevision) {
        return fail(
          `revision ${event.revision} where ${expectedRevision} was due: an event of the stream is missing or out of order`,
        );
      }
      const dataJson = canonical(event.data);
      const metadataJson = canonical(event.metadata);
      if (event.text && (event.text.data !== dataJson || event.text.metadata !== metadataJson)) {
        return fail("stored bytes differ from their canonical form: the event was altered");
      }
      const hash = eventHash(head?.hash ?? GENESIS, { ...event, dataJson, metadataJson });
      if (hash !== event.hash) return fail("hash does not match the content and the previous event: altered");
      const valid = validateEvent(event.type, event.data, event.metadata);
      if (!valid.ok) return fail(`not a valid event: ${valid.message}`);
      heads.set(event.stream, { revision: event.revision, hash });
      const removedProblem = ranges.observe(event.stream, event.position, hash);
      if (removedProblem) return fail(removedProblem);
      events += 1;
      if (events % 10_000 === 0) onProgress?.(events);

      pending.push({ position: event.position, hash });
      if (event.stream === SEALS_STREAM && event.type === "LedgerSealed") {
        const seal = event.data as SealData;
        const removal = ranges.seal(seal);
        if (removal.problem) return fail(`seal ${event.revision}: ${removal.problem}`);
        const problem = await checkSeal(seal, sealedTo, pending, publicKey, removal.removed);
        if (problem) return fail(`seal ${event.revision}: ${problem}`);
        const to = BigInt(seal.toPosition);
        pending = pending.filter((entry) => entry.position > to);
        sealedTo = to;
        seals += 1;
      }
    }
    const unfinished = ranges.finish();
    if (unfinished) return report(unfinished);
  } catch (error) {
    // An event the store cannot even parse is a broken place too; anything else is not ours to judge.
    if (!isSluiceError(error, "STORED_EVENT_INVALID")) throw error;
    const details = error.details as { stream: string; revision: string; position: string };
    return report({
      stream: details.stream,
      revision: BigInt(details.revision),
      position: BigInt(details.position),
      reason: error.message,
    });
  }
  return report();
}

async function checkSeal(
  seal: SealData,
  sealedTo: bigint,
  pending: { position: bigint; hash: string }[],
  publicKey: CryptoKey,
  removed = false,
): Promise<string | null> {
  const signatureProblem = await checkSealSignature(seal, publicKey);
  if (signatureProblem) return signatureProblem;
  if (BigInt(seal.fromPosition) !== sealedTo) {
    return `its range starts after position ${seal.fromPosition}, but the previous seal ended at ${sealedTo}`;
  }
  // Inside a removed range the events are gone: the archive proves this root, the removal names the seal.
  if (removed) return null;
  const to = BigInt(seal.toPosition);
  const tree = new MerkleAccumulator();
  for (const entry of pending) if (entry.position <= to) tree.add(entry.hash);
  if (tree.count !== seal.count || tree.root() !== seal.merkleRoot) {
    return `positions ${seal.fromPosition}..${seal.toPosition} hold ${tree.count} events whose Merkle root does not match the ${seal.count} sealed: an event was removed, altered or reordered`;
  }
  return null;
}

function place(event: RawEvent) {
  return { stream: event.stream, revision: event.revision, position: event.position };
}
