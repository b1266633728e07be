import type { CryptoKey } from "jose";
import type { EventData } from "../events/index.ts";
import { RETENTION_STREAM } from "../events/retention.ts";
import type { EventStore } from "./port.ts";
import { isKeptOnRemoval, KeptDigest } from "./removal.ts";
import type { SealData } from "./seal.ts";
import { checkCanonicalSignature } from "./signed.ts";

/**
 * What `sluice verify` needs to accept the gaps retention leaves. A removed range is accepted when
 * a signed LedgerRangeRemoved covers it exactly: its seals are the ones in the log (signatures and
 * contiguity still checked, Merkle roots proved by the archive instead), only kept streams' events
 * remain in it and they hash to the recorded digest, and a stream going on after it continues
 * from the recorded last hash.
 */

type Removal = EventData<"LedgerRangeRemoved">;

export interface RemovalPlace {
  stream: string;
  revision: bigint;
  position: bigint;
  reason: string;
}

interface RemovedRange {
  from: bigint;
  to: bigint;
  data: Removal;
  place: Omit<RemovalPlace, "reason">;
  kept: KeptDigest;
  sealsSeen: number;
  done: boolean;
}

export class RemovedRanges {
  private readonly carried = new Map<string, { revision: bigint; hash: string; after: bigint }>();
  private cursor = 0;
  private sealCursor = 0;

  constructor(private readonly ranges: RemovedRange[]) {
    for (const range of ranges) {
      // A later removal that cuts the same stream again supersedes the earlier head.
      for (const c of range.data.carried)
        this.carried.set(c.stream, { revision: BigInt(c.revision), hash: c.hash, after: range.to });
    }
  }

  get count(): number {
    return this.ranges.length;
  }

  get removedEvents(): number {
    return this.ranges.reduce((sum, r) => sum + r.data.removed, 0);
  }

  /**
   * Where a stream whose earlier events were removed continues from, for its first event left at
   * `position`. Only the next revision continues it: a stream removed whole may start afresh at 0.
   */
  carriedHead(
    stream: string,
    position: bigint,
    revision: bigint,
  ): { revision: bigint; hash: string } | undefined {
    const head = this.carried.get(stream);
    return head && position > head.after && revision === head.revision + 1n ? head : undefined;
  }

  /** Every verified event passes here; a reason when it should not be in the log. */
  observe(stream: string, position: bigint, hash: string): string | null {
    while (this.cursor < this.ranges.length && (this.ranges[this.cursor] as RemovedRange).to < position)
      this.cursor += 1;
    const range = this.ranges[this.cursor];
    if (!range || position <= range.from) return null;
    if (!isKeptOnRemoval(stream)) {
      return `the range ${range.from}..${range.to} was removed (position ${range.place.position}), yet this event is in it`;
    }
    range.kept.add(hash);
    return null;
  }

  /** For each seal: whether it lies in a removed range (its Merkle root is then the archive's to prove). */
  seal(seal: SealData): { removed: boolean; problem: string | null } {
    const from = BigInt(seal.fromPosition);
    const to = BigInt(seal.toPosition);
    while (this.sealCursor < this.ranges.length && (this.ranges[this.sealCursor] as RemovedRange).to <= from)
      this.sealCursor += 1;
    const range = this.ranges[this.sealCursor];
    if (!range || to <= range.from) return { removed: false, problem: null };
    if (from < range.from || to > range.to) {
      return {
        removed: false,
        problem: `its range ${from}..${to} straddles the removed range ${range.from}..${range.to}`,
      };
    }
    const listed = range.data.seals[range.sealsSeen];
    if (
      !listed ||
      listed.fromPosition !== seal.fromPosition ||
      listed.toPosition !== seal.toPosition ||
      listed.count !== seal.count ||
      listed.merkleRoot !== seal.merkleRoot
    ) {
      return {
        removed: true,
        problem: `it is not the seal the removal at position ${range.place.position} lists for this range`,
      };
    }
    range.sealsSeen += 1;
    if (to === range.to) {
      range.done = true;
      if (range.kept.count !== range.data.kept.count || range.kept.digest() !== range.data.kept.digest) {
        return {
          removed: true,
          problem: `the events left in the removed range ${range.from}..${range.to} are not the ${range.data.kept.count} its removal recorded: one was altered, removed or added`,
        };
      }
    }
    return { removed: true, problem: null };
  }

  /** After the walk: a removal whose seals never all appeared is itself a broken place. */
  finish(): RemovalPlace | null {
    const open = this.ranges.find((range) => !range.done);
    if (!open) return null;
    return {
      ...open.place,
      reason: `removal ${open.place.revision}: the seals it lists for ${open.from}..${open.to} are not all in the log`,
    };
  }
}

/** Reads every removal first (they come after the gaps they explain), checking signatures and contiguity. */
export async function loadRemovedRanges(
  store: EventStore,
  publicKey: CryptoKey,
): Promise<RemovedRanges | RemovalPlace> {
  const ranges: RemovedRange[] = [];
  let previousTo = 0n;
  for await (const event of store.readStream(RETENTION_STREAM)) {
    if (event.type !== "LedgerRangeRemoved") continue;
    const place = { stream: event.stream, revision: event.revision, position: event.position };
    const fail = (reason: string): RemovalPlace => ({
      ...place,
      reason: `removal ${event.revision}: ${reason}`,
    });
    const problem = await checkCanonicalSignature(event.data, publicKey);
    if (problem) return fail(problem);
    const from = BigInt(event.data.fromPosition);
    const to = BigInt(event.data.toPosition);
    if (from !== previousTo)
      return fail(`its range starts after ${from}, but the previous removal ended at ${previousTo}`);
    if (to <= from || event.position <= to) return fail(`its range ${from}..${to} is malformed`);
    let at = from;
    for (const seal of event.data.seals) {
      if (BigInt(seal.fromPosition) !== at) break;
      at = BigInt(seal.toPosition);
    }
    if (at !== to) return fail(`the seals it lists do not tile its range ${from}..${to}`);
    ranges.push({ from, to, data: event.data, place, kept: new KeptDigest(), sealsSeen: 0, done: false });
    previousTo = to;
  }
  return new RemovedRanges(ranges);
}
