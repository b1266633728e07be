/**
 * bench/masking: throughput of the masking engine with every detector enabled, on one core.
 *  (a) maskText over many ~1 KB values (JSON rows and log lines, one in ten with a secret);
 *  (b) a 64 MiB stream of log lines and JSON rows (a secret every few KB) through MaskingStream
 *      in 64 KiB chunks. Target: at least 50 MiB/s per core for both.
 *   npx tsx bench/masking.ts [-- --stream-mib 64 --seconds 3]
 */
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { type ContentRule, DETECTOR_NAMES, MaskingStream, maskText } from "../src/gate/masking/index.ts";

const { values } = parseArgs({
  options: { "stream-mib": { type: "string", default: "64" }, seconds: { type: "string", default: "3" } },
});
const STREAM_BYTES = Number(values["stream-mib"]) * 1024 * 1024;
const SECONDS = Number(values.seconds);
const MiB = 1024 * 1024;

const rules: ContentRule[] = DETECTOR_NAMES.map((detector) => ({
  detector,
  strategy: detector === "email" ? { kind: "hash", salt: "bench" } : { kind: "redact" },
  rule: `mask-${detector}`,
}));

// A deterministic pseudo-random source (mulberry32), so every run measures the same text.
let seed = 42;
const rand = (n: number) => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) % n;
};
const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)] as T;
const hex = (n: number) => Array.from({ length: n }, () => "0123456789abcdef"[rand(16)]).join("");

const secrets = [
  () => `user${rand(1000)}@example.com`,
  () => "Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
  () => "AKIAIOSFODNN7EXAMPLE",
  () => "postgres://app:s3cr3t-pw@db.internal:5432/orders",
  () => "4111 1111 1111 1111",
  () => "+1 415-555-2671",
  () => "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
  () => "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
  () => "DE89 3704 0044 0532 0130 00",
  () => "123-45-6789",
];

function logLine(secret: boolean): string {
  const ts = `2024-06-${String(1 + rand(28)).padStart(2, "0")}T12:${String(rand(60)).padStart(2, "0")}:07.${rand(1000)}Z`;
  const msg = pick([
    `GET /api/v1/orders/${rand(100000)}?limit=50 200 ${rand(900)}ms`,
    `worker ${rand(16)} processed batch ${hex(8)} (${rand(5000)} items) in ${rand(3000)} ms`,
    `connection from 10.${rand(255)}.${rand(255)}.${rand(255)}:${1024 + rand(60000)} accepted`,
    `cache miss for key session:${hex(16)}; fetching from upstream`,
  ]);
  const tail = secret ? ` detail=${pick(secrets)()}` : "";
  return `${ts} ${pick(["INFO", "WARN", "DEBUG"])} [req-${hex(12)}] ${msg}${tail}\n`;
}

function jsonRow(secret: boolean): string {
  const row: Record<string, unknown> = {
    id: rand(10_000_000),
    created_at: "2024-06-01 10:22:33.123+00",
    status: pick(["paid", "pending", "refunded"]),
    total: rand(100000) / 100,
    sku: `SKU-${hex(6).toUpperCase()}`,
    note: pick(["", "gift wrap", "leave at door", "call before delivery", "Zustellung: Müller, Zürich"]),
  };
  if (secret) row.contact = pick(secrets)();
  return `${JSON.stringify(row)}\n`;
}

/** About `size` characters of log lines and JSON rows; one line in `every` carries a secret. */
function corpus(size: number, every: number): string {
  let out = "";
  while (out.length < size) out += rand(2) === 0 ? logLine(rand(every) === 0) : jsonRow(rand(every) === 0);
  return out;
}

function benchValues(): number {
  const items = Array.from({ length: 20_000 }, () => corpus(1024, 40).slice(0, 1024));
  const bytes = items.reduce((n, v) => n + Buffer.byteLength(v), 0);
  for (const v of items.slice(0, 2000)) maskText(v, rules); // warm-up
  let done = 0;
  const started = performance.now();
  while (performance.now() - started < SECONDS * 1000) {
    for (const v of items) maskText(v, rules);
    done += bytes;
  }
  return done / MiB / ((performance.now() - started) / 1000);
}

async function benchStream(): Promise<{ rate: number; masked: number }> {
  const block = Buffer.from(corpus(4 * MiB, 30)); // a secret every ~4 KB
  const chunk = 64 * 1024;
  async function* source() {
    for (let sent = 0; sent < STREAM_BYTES; sent += chunk) {
      const at = sent % block.length;
      yield block.subarray(at, Math.min(at + chunk, block.length));
    }
  }
  const masking = new MaskingStream(rules);
  let received = 0;
  const sink = new Writable({
    write(data: Buffer, _enc, done) {
      received += data.length;
      done();
    },
  });
  const started = performance.now();
  await pipeline(Readable.from(source()), masking, sink);
  const seconds = (performance.now() - started) / 1000;
  const masked = masking.findings().reduce((n, f) => n + f.count, 0);
  return { rate: STREAM_BYTES / MiB / seconds, masked: received > 0 ? masked : 0 };
}

const valuesRate = benchValues();
console.log(`maskText, 1 KB values, ${rules.length} detectors: ${valuesRate.toFixed(1)} MiB/s per core`);
const stream = await benchStream();
console.log(
  `MaskingStream, ${STREAM_BYTES / MiB} MiB in 64 KiB chunks: ${stream.rate.toFixed(1)} MiB/s per core` +
    ` (${stream.masked} regions masked)`,
);
console.log("target: 50 MiB/s per core");
