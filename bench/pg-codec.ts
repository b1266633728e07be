/**
 * bench/pg-codec: throughput of Sluice's PostgreSQL wire codec on one core.
 *  (a) BackendFramer on a stream of ~1 KB DataRows in 64 KiB chunks, against pg-protocol's
 *      Parser (what node-postgres uses) on the same bytes as the in-process baseline;
 *      plus framing + decodeDataRow of every row (what a masking pass over each row costs);
 *  (b) FrontendReader on Bind/Execute/Sync triples (two parameters each) in 64 KiB chunks.
 *   npx tsx bench/pg-codec.ts [-- --seconds 2]
 */
import { parseArgs } from "node:util";
import { Parser } from "pg-protocol/dist/parser.js";
import { BackendFramer, decodeDataRow, encodeDataRow } from "../src/proxy/postgres/codec/backend.ts";
import * as client from "../src/proxy/postgres/codec/client-messages.ts";
import { FrontendReader } from "../src/proxy/postgres/codec/frontend.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "2" } } });
const SECONDS = Number(values.seconds);
const CHUNK = 64 * 1024;
const MB = 1e6;

function chunks(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < stream.length; at += CHUNK) out.push(stream.subarray(at, at + CHUNK));
  return out;
}

/** Runs `pass` (one pass over the stream, returning frames seen) repeatedly for SECONDS after a warm-up. */
function measure(name: string, bytesPerPass: number, pass: () => number): number {
  for (let i = 0; i < 3; i++) pass();
  let frames = 0;
  let passes = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(SECONDS * 1e9);
  let now = start;
  while (now < until) {
    frames += pass();
    passes++;
    now = process.hrtime.bigint();
  }
  const seconds = Number(now - start) / 1e9;
  const rate = frames / seconds;
  console.log(
    `${name.padEnd(44)} ${(rate / 1e6).toFixed(2).padStart(6)} M frames/s ${((passes * bytesPerPass) / seconds / MB).toFixed(0).padStart(6)} MB/s`,
  );
  return rate;
}

// (a) ~1 KB DataRows: an id, an email, and three text columns.
const rows: Buffer[] = [];
for (let i = 0; i < 8192; i++) {
  rows.push(
    encodeDataRow([String(i), `user${i}@example.com`, "a".repeat(300), "b".repeat(300), "c".repeat(370)]),
  );
}
const rowStream = Buffer.concat(rows);
const rowChunks = chunks(rowStream);
console.log(
  `DataRow stream: ${rows.length} rows of ${rows[0]?.length} bytes, ${(rowStream.length / MB).toFixed(1)} MB in 64 KiB chunks`,
);

const framer = measure("BackendFramer (frames only)", rowStream.length, () => {
  const f = new BackendFramer();
  let n = 0;
  for (const c of rowChunks) n += f.push(c).length;
  return n;
});
measure("BackendFramer + decodeDataRow", rowStream.length, () => {
  const f = new BackendFramer();
  let n = 0;
  for (const c of rowChunks) {
    for (const frame of f.push(c)) {
      decodeDataRow(frame.raw);
      n++;
    }
  }
  return n;
});
const baseline = measure("pg-protocol Parser (baseline, decodes rows)", rowStream.length, () => {
  const p = new Parser();
  let n = 0;
  for (const c of rowChunks) p.parse(c, () => n++);
  return n;
});
console.log(`ratio BackendFramer / pg-protocol Parser: ${(framer / baseline).toFixed(2)}x`);

// (b) Bind/Execute/Sync triples, as a driver pipelines prepared statements.
const triples: Buffer[] = [client.startupMessage({ user: "bench" })];
for (let i = 0; i < 8192; i++) {
  triples.push(
    client.bind({
      portal: "",
      statement: "s1",
      paramFormats: [0],
      params: [Buffer.from(String(i)), Buffer.from(`user${i}@example.com`)],
      resultFormats: [0],
    }),
    client.execute(),
    client.sync(),
  );
}
const tripleStream = Buffer.concat(triples);
const tripleChunks = chunks(tripleStream);
console.log(
  `Bind/Execute/Sync stream: 8192 triples, ${(tripleStream.length / MB).toFixed(2)} MB in 64 KiB chunks`,
);
measure("FrontendReader (decoded messages)", tripleStream.length, () => {
  const r = new FrontendReader();
  let n = 0;
  for (const c of tripleChunks) n += r.push(c).length;
  return n;
});
