import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { type ContentRule, DETECTOR_NAMES, maskText } from "../../src/gate/masking/index.ts";
import { type MaskingTransform, MaskPool } from "../../src/proxy/ssh/mask-pool.ts";

const rules: ContentRule[] = DETECTOR_NAMES.map((detector) => ({
  detector,
  strategy: { kind: "redact" },
  rule: `all/${detector}`,
}));
const secrets = [
  "AKIAIOSFODNN7EXAMPLE",
  "postgres://app:s3cr3t-pw@db.internal:5432/orders",
  "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----",
  "alice@example.com",
  "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
];

async function through(stream: MaskingTransform, chunks: Buffer[]): Promise<string> {
  const out: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => out.push(chunk));
  await pipeline(Readable.from(chunks), stream);
  return Buffer.concat(out).toString("utf8");
}

describe("masking on worker threads (MaskPool)", () => {
  const pool = new MaskPool(2);
  afterAll(() => pool.close());

  it("masks a stream split anywhere exactly as maskText masks the whole, with the same findings", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.constantFrom(...secrets), fc.string({ maxLength: 40 })), { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (parts, cuts) => {
          const bytes = Buffer.from(parts.join(" "));
          const offsets = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const chunks = [0, ...offsets, bytes.length]
            .slice(1)
            .map((end, i, all) => bytes.subarray(i === 0 ? 0 : (all[i - 1] as number), end));
          const stream = pool.stream(rules, 16 * 1024);
          const expected = maskText(bytes.toString("utf8"), rules);
          expect(await through(stream, chunks)).toBe(expected.text);
          expect(stream.findings()).toEqual(expected.findings);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("holds writers back while the worker is behind, instead of buffering without bound", async () => {
    const stream = pool.stream(rules, 16 * 1024);
    const chunk = Buffer.alloc(64 * 1024, "lorem ipsum dolor sit amet ");
    let accepted = 0;
    while (stream.write(chunk) && accepted < 1024) accepted++;
    // Nobody reads the output: writes report backpressure within a few MiB, not after 64 MiB.
    expect(accepted).toBeLessThan(64);
    stream.destroy();
  });

  it("stops taking input while the masked output is not read, and resumes when it is", async () => {
    const stream = pool.stream(rules, 16 * 1024);
    const chunk = Buffer.alloc(64 * 1024, "lorem ipsum dolor sit amet ");
    const total = 96; // 6 MiB, three times what the pool may hold of one stream
    let accepted = 0;
    const allAccepted = new Promise<void>((resolve) => {
      for (let i = 0; i < total; i++)
        stream.write(chunk, () => {
          if (++accepted === total) resolve();
        });
    });
    // Nobody reads: the worker masks what it was given, then the writes stall (a bounded wait:
    // taking longer to get there only accepts less).
    await Promise.race([allAccepted, new Promise((resolve) => setTimeout(resolve, 500))]);
    expect(accepted * chunk.length).toBeLessThanOrEqual(2 * 1024 * 1024 + chunk.length);
    expect(stream.readableLength).toBeLessThanOrEqual(2 * 1024 * 1024);
    let read = 0;
    stream.on("data", (data: Buffer) => {
      read += data.length;
    });
    await allAccepted;
    stream.end();
    await new Promise((resolve) => stream.on("end", resolve));
    expect(read).toBe(total * chunk.length);
  });

  it("masks in place when it has no workers", async () => {
    const inline = new MaskPool(0);
    const text = `key ${secrets[0]} end`;
    expect(await through(inline.stream(rules, 16 * 1024), [Buffer.from(text)])).toBe(
      maskText(text, rules).text,
    );
    await inline.close();
  });
});
