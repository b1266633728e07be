import { createHash } from "node:crypto";
import type { NewEvent } from "../events/index.ts";
import { canonical } from "./chain.ts";
import type { ExpectedRevision } from "./port.ts";

/**
 * Retention removes whole sealed ranges of $all. What stays in a removed range: the streams that
 * carry the ledger's proofs and current state ($seals, $retention, policy, target-*), which are
 * small. What a verifier needs afterwards is computed here and recorded in LedgerRangeRemoved.
 */

const KEPT_STREAMS = ["$seals", "$retention", "policy"];
const KEPT_PREFIXES = ["target-"];

export function isKeptOnRemoval(stream: string): boolean {
  return KEPT_STREAMS.includes(stream) || KEPT_PREFIXES.some((prefix) => stream.startsWith(prefix));
}

/** The same predicate in SQL (SQLite and PostgreSQL): constants only, never user input. */
export const KEPT_SQL = `(stream IN (${KEPT_STREAMS.map((s) => `'${s}'`).join(", ")})${KEPT_PREFIXES.map(
  (p) => ` OR stream LIKE '${p}%'`,
).join("")})`;

/** Positions after `after`, up to and including `to`. */
export interface RemovalRange {
  after: bigint;
  to: bigint;
}

export interface CarriedHead {
  stream: string;
  /** Revision of the last removed event (decimal). */
  revision: string;
  hash: string;
}

/** What removing a range deletes, keeps and carries over; recorded, signed, then checked again at removal. */
export interface RemovalFacts {
  removed: number;
  kept: { count: number; digest: string };
  carried: CarriedHead[];
}

export interface RangeRemoval {
  range: RemovalRange;
  /** The facts the removal event records: the removal happens only if they still hold. */
  facts: RemovalFacts;
  /** The signed LedgerRangeRemoved, appended to $retention in the same transaction. */
  event: NewEvent;
  expectedRevision: ExpectedRevision;
}

/** sha256 over kept events' hashes in position order: the verifier recomputes it from what is left. */
export class KeptDigest {
  private readonly hash = createHash("sha256");
  count = 0;

  add(eventHash: string): void {
    this.hash.update(eventHash);
    this.count += 1;
  }

  digest(): string {
    return this.hash.digest("hex");
  }
}

/** Facts from the rows an engine found; carried heads sorted by stream so every engine agrees. */
export function removalFacts(
  removed: number,
  keptHashes: Iterable<string>,
  carried: { stream: string; revision: bigint | string; hash: string }[],
): RemovalFacts {
  const kept = new KeptDigest();
  for (const hash of keptHashes) kept.add(hash);
  return {
    removed,
    kept: { count: kept.count, digest: kept.digest() },
    carried: carried
      .map((c) => ({ stream: c.stream, revision: c.revision.toString(), hash: c.hash }))
      .sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0)),
  };
}

export function sameFacts(a: RemovalFacts, b: RemovalFacts): boolean {
  return canonical(a) === canonical(b);
}

/** The SQL both engines run; `?`-style placeholders are rewritten for PostgreSQL by the caller. */
export const REMOVAL_SQL = {
  removed: `SELECT count(*) AS n FROM events WHERE position > ? AND position <= ? AND NOT ${KEPT_SQL}`,
  kept: `SELECT hash FROM events WHERE position > ? AND position <= ? AND ${KEPT_SQL} ORDER BY position`,
  carried: `SELECT r.stream AS stream, r.revision AS revision, e.hash AS hash
    FROM (SELECT stream, max(revision) AS revision FROM events
          WHERE position > ? AND position <= ? AND NOT ${KEPT_SQL} GROUP BY stream) r
    JOIN events e ON e.stream = r.stream AND e.revision = r.revision
    WHERE EXISTS (SELECT 1 FROM events l WHERE l.stream = r.stream AND l.revision > r.revision)`,
  delete: `DELETE FROM events WHERE position > ? AND position <= ? AND NOT ${KEPT_SQL}`,
};
