/**
 * bench/masking: throughput of the masking engine, on one core.
 *  (a) maskText over many ~1 KB values (JSON rows and log lines, one in ten with a secret),
 *      every detector enabled;
 *  (b) a 64 MiB stream of log lines and JSON rows (a secret every few KB) through MaskingStream
 *      in 64 KiB chunks, every detector enabled;
 *  (c) bench/ssh's `cat` corpus through MaskingStream in 256 KiB chunks (what the SSH port's
 *      mask worker gets) with the SSH port's rules there: credential detectors, e-mail, cards.
 * Detectors run only where a shared prefilter points (src/gate/masking/prefilter.ts). Target:
 * (c) fast enough for bench/ssh to reach half the direct throughput, about 300 MiB/s or more.
 *   npx tsx bench/masking.ts [-- --stream-mib 64 --seconds 3]
 */
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { type ContentRule, DETECTOR_NAMES, MaskingStream, maskText } from "../src/gate/masking/index.ts";
import { benchCorpus, sshCorpus } from "../test/unit/masking-corpus.ts";
import { SSH_RULES } from "../test/unit/masking-golden-cases.ts";

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

// A deterministic generator (mulberry32 seeded 42), so every run measures the same text.
const { corpus } = benchCorpus(42);

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

async function benchStream(
  block: Buffer,
  rules: ContentRule[],
  bytes: number,
  chunk: number,
): Promise<{ rate: number; masked: number }> {
  async function* source() {
    for (let sent = 0; sent < bytes; sent += chunk) {
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
  return { rate: bytes / MiB / seconds, masked: received > 0 ? masked : 0 };
}

const valuesRate = benchValues();
console.log(`maskText, 1 KB values, ${rules.length} detectors: ${valuesRate.toFixed(1)} MiB/s per core`);
const stream = await benchStream(Buffer.from(corpus(4 * MiB, 30)), rules, STREAM_BYTES, 64 * 1024);
console.log(
  `MaskingStream, ${STREAM_BYTES / MiB} MiB in 64 KiB chunks: ${stream.rate.toFixed(1)} MiB/s per core` +
    ` (${stream.masked} regions masked)`,
);
const ssh = await benchStream(Buffer.from(sshCorpus()), SSH_RULES, 4 * STREAM_BYTES, 256 * 1024);
console.log(
  `MaskingStream, bench/ssh corpus and the SSH port's ${SSH_RULES.length} rules, ${(4 * STREAM_BYTES) / MiB} MiB` +
    ` in 256 KiB chunks: ${ssh.rate.toFixed(1)} MiB/s per core (${ssh.masked} regions masked)`,
);
console.log("target: the last one about 300 MiB/s or more (bench/ssh at half the direct throughput)");
