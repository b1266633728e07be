import { z } from "zod";
import { id, identityRef, isoTime } from "./common.ts";

/** Stream `export-<id>`: an export asked for through the API, run as a job. */
export const exportEvents = {
  ExportRequested: z.object({
    exportId: id,
    format: z.enum(["jsonl", "csv", "ocsf"]),
    from: isoTime.optional(),
    to: isoTime.optional(),
    requestedBy: identityRef,
  }),
  ExportCompleted: z.object({
    exportId: id,
    /** SHA-256 of the signed manifest file; the files are listed with their own hashes. */
    manifestSha256: z.string().regex(/^[0-9a-f]{64}$/),
    events: z.number().int().nonnegative(),
    files: z.array(z.object({ name: z.string(), bytes: z.number().int().nonnegative(), sha256: z.string() })),
  }),
  ExportFailed: z.object({ exportId: id, error: z.string(), attempts: z.number().int().positive() }),
};
