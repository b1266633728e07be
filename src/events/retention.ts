import { z } from "zod";
import { isoTime } from "./common.ts";

/** Stream `$retention`: ranges of the log removed after their archive export, one event per range. */
export const RETENTION_STREAM = "$retention";

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const position = z.string().regex(/^\d+$/);

export const retentionEvents = {
  /**
   * Events with $all positions after `fromPosition` up to and including `toPosition` were removed,
   * except those of kept streams ($seals, $retention, policy, target-*). The range is exactly the
   * union of the listed seals, so the archive's events can be proved against their Merkle roots.
   */
  LedgerRangeRemoved: z.object({
    fromPosition: position,
    toPosition: position,
    /** Events deleted. */
    removed: z.number().int().nonnegative(),
    seals: z
      .array(
        z.object({
          fromPosition: position,
          toPosition: position,
          count: z.number().int().positive(),
          merkleRoot: hex64,
        }),
      )
      .min(1),
    /** Events of kept streams left in the range: their count and sha256 over their hashes in order. */
    kept: z.object({ count: z.number().int().nonnegative(), digest: hex64 }),
    /** Streams that go on after the range: the last removed event, where the remaining chain continues. */
    carried: z.array(z.object({ stream: z.string(), revision: position, hash: hex64 })),
    /** The archive export written before removal: its signed manifest's SHA-256 and where it was put. */
    archive: z.object({ format: z.literal("jsonl"), manifestSha256: hex64, location: z.string() }),
    removedAt: isoTime,
    keyId: z.string(),
    /** Compact JWS (EdDSA) over the canonical JSON of the fields above. */
    signature: z.string(),
  }),
};
