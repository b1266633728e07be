import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ChunkMasker,
  type ContentRule,
  DETECTOR_NAMES,
  MaskingStream,
  maskText,
} from "../../src/gate/masking/index.ts";
import { benchCorpus } from "./masking-corpus.ts";
import { JWT, NEGATIVES, POSITIVES, pem } from "./masking-fixtures.ts";
import { ALL_MIXED, SSH_RULES } from "./masking-golden-cases.ts";

/**
 * Streams split anywhere mask exactly as maskText masks the whole text. The texts are built
 * from secrets, near misses and filler, and the cuts are put at, just before and just after
 * where a secret begins, ends or is half way, which is where carrying state goes wrong.
 */

const SECRETS = [
  ...POSITIVES.map(([, text]) => text),
  `Authorization: Bearer ${JWT}`,
  `key:\n${pem("OPENSSH PRIVATE KEY")}\n`,
  "postgres://app:s3cr3t@db:5432/x",
  "4111 1111 1111 1111",
  "+1 415-555-2671",
];
const FILLER = [
  ...NEGATIVES.map(([, text]) => text),
  ...benchCorpus(3).corpus(4000, 10).split("\n"),
  "Zürich 😀 日本",
  "-----BEGIN RSA PRIVATE KEY-----\n",
  "x".repeat(300),
  " ",
  "\n",
];
const single = (detector: (typeof DETECTOR_NAMES)[number]): ContentRule[] => [
  { detector, strategy: { kind: "redact" }, rule: detector },
];

const piece = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...SECRETS).map((text) => ({ text, secret: true })) },
  { weight: 3, arbitrary: fc.constantFrom(...FILLER).map((text) => ({ text, secret: false })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((text) => ({ text, secret: false })) },
);
const rules = fc.oneof(
  fc.constant(ALL_MIXED),
  fc.constant(SSH_RULES),
  fc.constantFrom(...DETECTOR_NAMES).map(single),
);
const chunked = fc.record({
  pieces: fc.array(piece, { minLength: 1, maxLength: 14 }),
  // Cuts relative to the secrets' edges and middles: [which edge, offset from it].
  cuts: fc.array(fc.tuple(fc.nat(), fc.integer({ min: -3, max: 3 })), { maxLength: 10 }),
  rules,
  maxCarry: fc.constantFrom(4096, 16384),
});

/** The bytes and where to split them: near the edges of the secrets the cuts pick. */
function split(
  pieces: { text: string; secret: boolean }[],
  cuts: [number, number][],
): { bytes: Buffer; chunks: Buffer[] } {
  const edges: number[] = [];
  let at = 0;
  for (const { text, secret } of pieces) {
    const length = Buffer.byteLength(text);
    if (secret) edges.push(at, at + (length >> 1), at + length);
    at += length;
  }
  const bytes = Buffer.from(pieces.map((p) => p.text).join(""));
  const offsets = cuts
    .map(([edge, delta]) => (edges.length === 0 ? edge : (edges[edge % edges.length] as number) + delta))
    .map((offset) => Math.min(bytes.length, Math.max(0, offset)));
  const sorted = [...new Set(offsets)].sort((a, b) => a - b);
  const chunks = [...sorted, bytes.length].map((end, i, all) =>
    bytes.subarray(i === 0 ? 0 : all[i - 1], end),
  );
  return { bytes, chunks };
}

describe("masking a stream split anywhere", () => {
  it("gives maskText's text and findings for cuts at the edges of secrets (ChunkMasker)", () => {
    fc.assert(
      fc.property(chunked, ({ pieces, cuts, rules, maxCarry }) => {
        const { bytes, chunks } = split(pieces, cuts);
        const expected = maskText(bytes.toString("utf8"), rules, { maxSecretLength: maxCarry });
        const masker = new ChunkMasker(rules, maxCarry);
        const out: Buffer[] = [];
        for (const chunk of chunks) masker.write(chunk, out);
        masker.end(out);
        expect(Buffer.concat(out).toString("utf8")).toBe(expected.text);
        expect(masker.findings()).toEqual(expected.findings);
      }),
      { numRuns: 400 },
    );
  });

  it("gives maskText's result through the MaskingStream Transform", async () => {
    await fc.assert(
      fc.asyncProperty(chunked, async ({ pieces, cuts, rules, maxCarry }) => {
        const { bytes, chunks } = split(pieces, cuts);
        const expected = maskText(bytes.toString("utf8"), rules, { maxSecretLength: maxCarry });
        const masking = new MaskingStream(rules, { maxCarry });
        const out: Buffer[] = [];
        const sink = new Writable({
          write(data: Buffer, _encoding, done) {
            out.push(Buffer.from(data)); // a copy: what was pushed must stay as it was
            done();
          },
        });
        await pipeline(Readable.from(chunks), masking, sink);
        expect(Buffer.concat(out).toString("utf8")).toBe(expected.text);
        expect(masking.findings()).toEqual(expected.findings);
      }),
      { numRuns: 100 },
    );
  });

  it("never lets a secret through when the stream is cut inside it", () => {
    const secret = "AKIAIOSFODNN7EXAMPLE";
    const text = `id ${secret} end`;
    for (let cut = 1; cut < text.length; cut++) {
      const masker = new ChunkMasker(SSH_RULES, 16384);
      const out: Buffer[] = [];
      masker.write(Buffer.from(text.slice(0, cut)), out);
      masker.write(Buffer.from(text.slice(cut)), out);
      masker.end(out);
      expect(Buffer.concat(out).toString()).toBe("id «redacted:aws_access_key_id» end");
    }
  });
});
