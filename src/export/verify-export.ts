import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { CryptoKey } from "jose";
import { isSluiceError } from "../errors.ts";
import { sealEvents } from "../events/seal.ts";
import { canonical, eventHash, GENESIS, MerkleAccumulator } from "../eventstore/chain.ts";
import { checkSealSignature, type SealData } from "../eventstore/seal.ts";
import { checkCanonicalSignature } from "../eventstore/signed.ts";
import { type ExportManifest, readManifest } from "./manifest.ts";

export interface ExportVerifyReport {
  ok: boolean;
  format?: string;
  events: number;
  records: number;
  files: number;
  /** Seals whose signature was checked. */
  seals: number;
  /** Seals whose Merkle root was recomputed from the exported events (JSONL, range inside the export). */
  sealsProved: number;
  unsealedEvents: number;
  /** The first thing found wrong. */
  problem?: string;
}

/**
 * `sluice verify --export DIR`: the manifest's signature, each file's size and SHA-256, the seals'
 * signatures and contiguity; for JSONL also every event's hash (recomputed from its content and
 * its stream's previous hash), the chains within the export, and the Merkle root of every seal
 * whose range lies inside the export.
 */
export async function verifyExport(dir: string, publicKey: CryptoKey): Promise<ExportVerifyReport> {
  const report: ExportVerifyReport = {
    ok: false,
    events: 0,
    records: 0,
    files: 0,
    seals: 0,
    sealsProved: 0,
    unsealedEvents: 0,
  };
  const fail = (problem: string) => ({ ...report, ok: false, problem });
  let manifest: ExportManifest;
  try {
    manifest = readManifest(dir).manifest;
  } catch (error) {
    if (isSluiceError(error)) return fail(error.message);
    throw error;
  }
  report.format = manifest.format;
  const signatureProblem = await checkCanonicalSignature(manifest, publicKey);
  if (signatureProblem) return fail(`manifest: ${signatureProblem}`);
  report.events = manifest.counts.events;
  report.records = manifest.counts.records;
  report.unsealedEvents = manifest.coverage.unsealedEvents;

  for (const file of manifest.files) {
    const found = await digestFile(join(dir, file.name), file.name.endsWith(".csv")).catch(
      (error: Error) => error,
    );
    if (found instanceof Error) return fail(`${file.name}: ${found.message}`);
    if (found.bytes !== file.bytes || found.sha256 !== file.sha256)
      return fail(`${file.name}: its SHA-256 or size differs from the manifest's: the file was altered`);
    if (found.lines !== file.records)
      return fail(`${file.name}: ${found.lines} records where the manifest lists ${file.records}`);
    report.files += 1;
  }

  let sealedTo: bigint | null = null;
  let first: bigint | null = null;
  try {
    for await (const seal of readSeals(join(dir, manifest.seals.file))) {
      const problem = await checkSealSignature(seal.data, publicKey);
      if (problem) return fail(`seal at position ${seal.position}: ${problem}`);
      if (sealedTo !== null && BigInt(seal.data.fromPosition) !== sealedTo)
        return fail(`seal at position ${seal.position}: it does not start where the previous seal ended`);
      first ??= BigInt(seal.data.fromPosition);
      sealedTo = BigInt(seal.data.toPosition);
      report.seals += 1;
    }
  } catch (error) {
    return fail(`${manifest.seals.file}: ${(error as Error).message}`);
  }
  if (report.seals !== manifest.seals.count)
    return fail(`${report.seals} seals where the manifest lists ${manifest.seals.count}`);
  if (first !== null && first > BigInt(manifest.range.afterPosition))
    return fail("the seals do not cover the start of the range");
  if (String(sealedTo) !== String(manifest.coverage.sealedTo))
    return fail("the manifest's coverage does not match its seals");

  if (manifest.format === "jsonl") {
    const file = manifest.files[0]?.name ?? "events.jsonl";
    const problem = await checkEvents(join(dir, file), join(dir, manifest.seals.file), manifest, report);
    if (problem) return fail(`${file}: ${problem}`);
  }
  return { ...report, ok: true };
}

/** Size, SHA-256 and records: lines, or for CSV rows after the header (line breaks inside quotes are data). */
async function digestFile(
  path: string,
  csv: boolean,
): Promise<{ bytes: number; sha256: string; lines: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  let lines = 0;
  let quoted = false;
  for await (const chunk of createReadStream(path)) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    bytes += buffer.length;
    if (!csv) {
      for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) lines += 1;
      continue;
    }
    // A doubled quote flips twice, so parity alone tells whether a line break is inside a field.
    for (let i = 0; i < buffer.length; i++) {
      const byte = buffer[i];
      if (byte === 34) quoted = !quoted;
      else if (byte === 10 && !quoted) lines += 1;
    }
  }
  return { bytes, sha256: hash.digest("hex"), lines: csv ? Math.max(lines - 1, 0) : lines };
}

interface ExportedEvent {
  position: string;
  stream: string;
  revision: string;
  type: string;
  prevHash: string;
  hash: string;
  data: unknown;
  metadata: unknown;
}

/** The JSONL content against itself and the seals; the first problem, or null. */
async function checkEvents(
  path: string,
  sealsPath: string,
  manifest: ExportManifest,
  report: ExportVerifyReport,
): Promise<string | null> {
  const after = BigInt(manifest.range.afterPosition);
  const to = BigInt(manifest.range.toPosition);
  // Seals are read alongside the events, one at a time: both files are in position order.
  const sealIterator = readSeals(sealsPath);
  const nextSeal = async () => {
    const next = await sealIterator.next();
    if (next.done) return undefined;
    const data = next.value.data;
    const from = BigInt(data.fromPosition);
    const end = BigInt(data.toPosition);
    return { from, to: end, data, inside: from >= after && end <= to };
  };
  let seal = await nextSeal();
  const heads = new Map<string, { revision: bigint; hash: string }>();
  const byType = new Map<string, number>();
  let tree = new MerkleAccumulator();
  let previous = after;
  let count = 0;
  let unsealed = 0;

  /** The current seal's range is behind: its root, if the export holds all of it. */
  const closeSeal = async (): Promise<string | null> => {
    const closing = seal as NonNullable<typeof seal>;
    const counted = tree;
    tree = new MerkleAccumulator();
    seal = await nextSeal();
    if (!closing.inside) return null;
    if (counted.count !== closing.data.count || counted.root() !== closing.data.merkleRoot)
      return `the ${counted.count} events of seal ${closing.from}..${closing.to} do not match its signed Merkle root over ${closing.data.count}: an event was altered, removed or added`;
    report.sealsProved += 1;
    return null;
  };

  const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    let event: ExportedEvent;
    try {
      event = JSON.parse(line) as ExportedEvent;
    } catch {
      return `line ${count + 1} is not JSON`;
    }
    const where = `line ${count + 1} (position ${event.position})`;
    let position: bigint;
    let revision: bigint;
    try {
      position = BigInt(event.position);
      revision = BigInt(event.revision);
    } catch {
      return `${where}: position or revision is not a number`;
    }
    if (position <= previous || position > to) return `${where}: out of order or outside the range`;
    previous = position;
    const hash = eventHash(event.prevHash, {
      stream: event.stream,
      revision,
      type: event.type,
      dataJson: canonical(event.data),
      metadataJson: canonical(event.metadata),
    });
    if (hash !== event.hash) return `${where}: its hash does not match its content: the event was altered`;
    const head = heads.get(event.stream);
    if (head && (revision !== head.revision + 1n || event.prevHash !== head.hash))
      return `${where}: it does not follow the previous event of stream "${event.stream}" in the export`;
    if (!head && revision === 0n && event.prevHash !== GENESIS)
      return `${where}: the first event of stream "${event.stream}" does not chain to the genesis hash`;
    heads.set(event.stream, { revision, hash });

    while (seal && seal.to < position) {
      const problem = await closeSeal();
      if (problem) return problem;
    }
    if (seal && position > seal.from) tree.add(hash);
    else unsealed += 1;
    count += 1;
    byType.set(event.type, (byType.get(event.type) ?? 0) + 1);
  }
  while (seal) {
    const problem = await closeSeal();
    if (problem) return problem;
  }
  if (count !== manifest.counts.events)
    return `${count} events where the manifest lists ${manifest.counts.events}`;
  if (unsealed !== manifest.coverage.unsealedEvents)
    return `${unsealed} events after the seals where the manifest lists ${manifest.coverage.unsealedEvents}`;
  for (const [type, n] of byType)
    if (manifest.counts.byType[type] !== n)
      return `${n} ${type} events where the manifest lists another count`;
  return null;
}

/** The seals file, line by line, each seal checked against the catalogue's shape. */
async function* readSeals(path: string): AsyncGenerator<{ position: string; data: SealData }> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    const entry = JSON.parse(line) as { position?: unknown; data?: unknown };
    const data = sealEvents.LedgerSealed.safeParse(entry.data);
    if (typeof entry.position !== "string" || !data.success) throw new Error("a seal line is malformed");
    yield { position: entry.position, data: data.data };
  }
}
