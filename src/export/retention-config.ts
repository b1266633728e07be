import { z } from "zod";

/** `retention:` in sluice.yaml. Without `hotDays` nothing is ever removed. */
export const retentionConfig = z
  .object({
    /** Days events stay in the store; older sealed ranges are archived (JSONL export), then removed. */
    hotDays: z.number().positive().optional(),
    /** Where archive exports go; default `<dataDir>/archive`. Keep it on durable, backed-up storage. */
    archiveDir: z.string().optional(),
    /** How often the gateway looks for ranges to remove; 0 leaves it to `sluice retention run`. */
    intervalSeconds: z.number().min(0).default(3600),
    /** At most this many events per removal: one archive, one transaction each. */
    maxEventsPerRemoval: z.number().int().positive().default(50_000),
  })
  .strict();

export type RetentionConfig = z.output<typeof retentionConfig>;
