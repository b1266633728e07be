import { z } from "zod";
import { isoTime } from "./common.ts";

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const position = z.string().regex(/^\d+$/);

/** Stream `$seals`: signed Merkle roots over the log, so removal and reordering are provable. */
export const sealEvents = {
  LedgerSealed: z.object({
    /** Range of $all positions covered: after `fromPosition`, up to and including `toPosition`. */
    fromPosition: position,
    toPosition: position,
    count: z.number().int().positive(),
    merkleRoot: hex64,
    sealedAt: isoTime,
    keyId: z.string(),
    /** Compact JWS (EdDSA) over the canonical JSON of the fields above. */
    signature: z.string(),
  }),
};
