import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import {
  type ContentRule,
  type MaskFinding,
  MaskingStream,
  type MaskingStreamOptions,
  maskText,
} from "../../src/gate/masking/index.ts";
import { JWT, POSITIVES, pem } from "./masking-fixtures.ts";
import { ALL_MIXED } from "./masking-golden-cases.ts";

const RULES: ContentRule[] = ALL_MIXED;

/** Feeds `chunks` through a MaskingStream; resolves with the output bytes and findings. */
async function run(
  chunks: Buffer[],
  options: MaskingStreamOptions = {},
  rules: ContentRule[] = RULES,
): Promise<{ bytes: Buffer; findings: MaskFinding[] }> {
  const masking = new MaskingStream(rules, options);
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    masking,
    new Writable({
      write(data: Buffer, _encoding, done) {
        out.push(data);
        done();
      },
    }),
  );
  return { bytes: Buffer.concat(out), findings: masking.findings() };
}

function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    chunks.push(bytes.subarray(from, cut));
    from = cut;
  }
  return chunks;
}

// A deterministic pseudo-random source (mulberry32), so a failure can be replayed.
function random(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

/** Several secrets of every kind, with multi-byte characters right next to some of them. */
const TEXT = [
  "Grüße aus Zürich — 日本語 😀",
  ...POSITIVES.map(([, text], i) => (i % 3 === 0 ? `${text} ✓ é` : text)),
  `Authorization: Bearer ${JWT}`,
  "ünïcode before john.doe@example.com and 4111 1111 1111 1111€",
].join("\n");
const SECRETS = POSITIVES.map(([, , region]) => region);

describe("MaskingStream", () => {
  const expected = maskText(TEXT, RULES);
  const bytes = Buffer.from(TEXT);

  it("gives maskText's result for a text split in two at every byte offset", async () => {
    for (let cut = 0; cut <= bytes.length; cut++) {
      const { bytes: out, findings } = await run(splitAt(bytes, [cut]));
      const text = out.toString("utf8");
      if (text !== expected.text) expect.fail(`split at byte ${cut}: output differs from maskText`);
      expect(findings).toEqual(expected.findings);
      for (const secret of SECRETS)
        if (text.includes(secret)) expect.fail(`split at ${cut}: ${secret} survived`);
    }
  });

  it("gives maskText's result for random splits into many chunks, down to single bytes", async () => {
    const rand = random(7);
    for (let round = 0; round < 150; round++) {
      const count = round % 10 === 0 ? bytes.length - 1 : 1 + rand(60);
      const cuts = [...new Set(Array.from({ length: count }, () => 1 + rand(bytes.length - 1)))].sort(
        (a, b) => a - b,
      );
      const { bytes: out, findings } = await run(splitAt(bytes, cuts));
      if (out.toString("utf8") !== expected.text) expect.fail(`round ${round}, cuts ${cuts.join(",")}`);
      expect(findings).toEqual(expected.findings);
    }
  });

  it("matches maskText on random mixtures of secrets, near misses and long runs, with a small carry", async () => {
    const pieces = [
      ...POSITIVES.map(([, text]) => text),
      "-----BEGIN RSA PRIVATE KEY-----\n",
      "-----END ",
      "a@b.cc@d.cc@".repeat(400),
      "x".repeat(700),
      `${pem("PRIVATE KEY").slice(0, 40)}${"QUJD\n".repeat(1200)}`,
      "lorem ipsum ".repeat(60),
      "://",
      "password=",
      "+1 ",
      "é",
      "😀",
      "\n",
      " ",
    ];
    const rand = random(11);
    for (let round = 0; round < 60; round++) {
      let text = "";
      for (let n = 1 + rand(25); n > 0; n--) text += pieces[rand(pieces.length)];
      const maxCarry = round % 2 === 0 ? 4096 : 16384;
      const want = maskText(text, RULES, { maxSecretLength: maxCarry });
      const all = Buffer.from(text);
      const cuts = [...new Set(Array.from({ length: rand(40) }, () => rand(all.length + 1)))].sort(
        (a, b) => a - b,
      );
      const { bytes: out, findings } = await run(splitAt(all, cuts), { maxCarry });
      if (out.toString("utf8") !== want.text) expect.fail(`round ${round}: output differs from maskText`);
      expect(findings).toEqual(want.findings);
    }
  });

  it("passes bytes that are not UTF-8 through untouched", async () => {
    const rand = random(3);
    const binary = Buffer.from(Array.from({ length: 64 * 1024 }, () => 128 + rand(128)));
    const mixed = Buffer.concat([binary, Buffer.from(" mail john.doe@example.com "), binary]);
    const { bytes: out } = await run(splitAt(mixed, [1000, 65_600, 65_601, 70_000]));
    const masked = Buffer.from(maskText(" mail john.doe@example.com ", RULES).text);
    expect(out.equals(Buffer.concat([binary, masked, binary]))).toBe(true);
  });

  it("emits text before the carry at once, holding back only what may begin a secret", async () => {
    const masking = new MaskingStream(RULES);
    const seen: string[] = [];
    masking.on("data", (data: Buffer) => seen.push(data.toString()));
    masking.write("total: 42 rows\n$ ");
    masking.write("contact john.do");
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen.join("")).toBe("total: 42 rows\n$ contact ");
    masking.end("e@example.com\n");
    await new Promise((resolve) => masking.on("end", resolve));
    expect(seen.join("")).toBe("total: 42 rows\n$ contact «redacted:email»\n");
  });

  it("masks a BEGIN without END for maxCarry bytes and keeps its buffer bounded", async () => {
    const maxCarry = 4096;
    const masking = new MaskingStream(
      [{ detector: "private_key_pem", strategy: { kind: "redact" }, rule: "pem" }],
      {
        maxCarry,
      },
    );
    let received = "";
    masking.on("data", (data: Buffer) => {
      received += data.toString();
    });
    masking.write("log line\n-----BEGIN OPENSSH PRIVATE KEY-----\n");
    for (let i = 0; i < 40; i++) masking.write(`${"b3BlbnNzaC1rZXktdjEAAAAA".repeat(4)}\n`);
    await new Promise((resolve) => setImmediate(resolve));
    expect(received).toBe("log line\n"); // the block is still open: held back, never leaked
    for (let i = 0; i < 100; i++) masking.write(`${"b3BlbnNzaC1rZXktdjEAAAAA".repeat(4)}\n`);
    await new Promise((resolve) => setImmediate(resolve));
    // Past maxCarry the region is decided; everything up to a bounded tail is out.
    expect(received.startsWith("log line\n«redacted:private_key_pem»")).toBe(true);
    const written = 9 + 36 + 140 * 97;
    expect(written - (received.length - "«redacted:private_key_pem»".length + maxCarry)).toBeLessThan(
      2 * maxCarry,
    );
    masking.end();
    await new Promise((resolve) => masking.on("end", resolve));
    expect(received).not.toContain("BEGIN");
  });

  it("applies backpressure through the Transform contract", async () => {
    const masking = new MaskingStream(RULES);
    const line = Buffer.from("2024-06-01 INFO user john.doe@example.com paid with 4111 1111 1111 1111\n");
    let writes = 0;
    while (masking.write(line)) writes++;
    expect(writes).toBeLessThan(2000); // the writable side filled up while nobody read
    const out: Buffer[] = [];
    masking.on("data", (data: Buffer) => out.push(data));
    await new Promise((resolve) => masking.once("drain", resolve));
    masking.end();
    await new Promise((resolve) => masking.on("end", resolve));
    const text = Buffer.concat(out).toString();
    expect(text.split("\n").length - 1).toBe(writes + 1);
    expect(text).not.toContain("john.doe");
    expect(text).not.toContain("4111 1111");
  });

  it("rejects a carry too small for the detectors", () => {
    expect(() => new MaskingStream(RULES, { maxCarry: 1024 })).toThrow(RangeError);
  });
});
