import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { SluiceError } from "../errors.ts";
import { type Signed, type SigningKeyRef, signCanonical } from "../eventstore/signed.ts";
import { fsyncPath } from "./file-sink.ts";

/**
 * Every export directory holds its files and `manifest.json`: the range, counts, each file's
 * SHA-256 (the seals covering the range have a file of their own, so a manifest stays small
 * whatever the range), and the archives of ranges removed before it, signed by
 * the gateway's key (compact JWS over the canonical JSON of every other field). The manifest is
 * written last: a directory without one is an unfinished export.
 */

export const MANIFEST_FILE = "manifest.json";
/** The seals overlapping the range, one `{"position":…,"data":<LedgerSealed>}` per line, in order. */
export const SEALS_FILE = "seals.jsonl";
export const EXPORT_FORMATS = ["jsonl", "csv", "ocsf"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

const position = z.string().regex(/^\d+$/);
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

const manifestPayload = z.object({
  kind: z.literal("sluice-export"),
  version: z.literal(1),
  format: z.enum(EXPORT_FORMATS),
  ocsfVersion: z.string().optional(),
  createdAt: z.string(),
  gatewayInstance: z.string(),
  store: z.string(),
  range: z.object({
    /** The requested time window, when one was given. */
    from: z.string().nullable(),
    to: z.string().nullable(),
    /** Every event of the log with a position after `afterPosition`, up to `toPosition`, is in the export. */
    afterPosition: position,
    toPosition: position,
    firstTime: z.string().nullable(),
    lastTime: z.string().nullable(),
  }),
  counts: z.object({
    events: z.number().int().nonnegative(),
    records: z.number().int().nonnegative(),
    byType: z.record(z.string(), z.number().int().nonnegative()),
  }),
  files: z
    .array(
      z.object({
        name: z.string().regex(/^[\w.-]+$/),
        bytes: z.number().int().nonnegative(),
        sha256: hex64,
        records: z.number().int().nonnegative(),
      }),
    )
    .min(1),
  /** Seals whose range overlaps the export's: how many, in SEALS_FILE (a file of their own, listed above). */
  seals: z.object({ file: z.literal(SEALS_FILE), count: z.number().int().nonnegative() }),
  coverage: z.object({
    /** Where the last of those seals ends. */
    sealedTo: position.nullable(),
    /** Exported events after the last seal: chained, not yet provable against a seal. */
    unsealedEvents: z.number().int().nonnegative(),
  }),
  /** Ranges removed by retention before this export: where their archives are. */
  removed: z.array(
    z.object({
      fromPosition: position,
      toPosition: position,
      removedAt: z.string(),
      archive: z.object({ manifestSha256: hex64, location: z.string() }),
    }),
  ),
});

export type ManifestPayload = z.infer<typeof manifestPayload>;
export type ExportManifest = Signed<ManifestPayload>;

const signedManifest = manifestPayload.extend({ keyId: z.string(), signature: z.string() });

export async function writeManifest(
  dir: string,
  payload: ManifestPayload,
  key: SigningKeyRef,
  options: { durable?: boolean } = {},
): Promise<ExportManifest> {
  const manifest = await signCanonical(payload, key);
  const path = join(dir, MANIFEST_FILE);
  writeFileSync(path, `${JSON.stringify(manifest, null, 2)}\n`, { flag: "wx" });
  if (options.durable) {
    fsyncPath(path);
    fsyncPath(dir);
  }
  return manifest;
}

/** The manifest as stored: its parsed fields and the SHA-256 of its bytes (what a removal records). */
export function readManifest(dir: string): { manifest: ExportManifest; sha256: string } {
  let text: string;
  try {
    text = readFileSync(join(dir, MANIFEST_FILE), "utf8");
  } catch (error) {
    throw new SluiceError("NOT_FOUND", `no export manifest in ${dir}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SluiceError("EVENT_INVALID", `the manifest is not JSON: ${(error as Error).message}`);
  }
  const parsed = signedManifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SluiceError(
      "EVENT_INVALID",
      `the manifest is malformed: ${issue?.path.join(".")}: ${issue?.message}`,
    );
  }
  return { manifest: parsed.data, sha256: createHash("sha256").update(text).digest("hex") };
}
