import { parentPort } from "node:worker_threads";
import { type ContentRule, MaskingStream } from "../../gate/masking/index.ts";
import type { FromWorker, ToWorker } from "./mask-pool.ts";

/**
 * Worker thread of the masking pool: one MaskingStream per stream id, fed the chunks the main
 * thread posts, its output posted back in order. The engine caches compiled plans per rules
 * array, so equal rule sets share one array here.
 */

const port = parentPort;
if (!port) throw new Error("mask-worker runs as a worker thread");
const streams = new Map<number, { stream: MaskingStream; out: Buffer[] }>();
const ruleSets = new Map<string, ContentRule[]>();

/** What a stream produced since the last message, as one standalone (transferable) array. */
function drain(out: Buffer[]): Uint8Array {
  const data = new Uint8Array(out.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of out) {
    data.set(b, at);
    at += b.length;
  }
  out.length = 0;
  return data;
}

port.on("message", (message: ToWorker) => {
  switch (message.t) {
    case "open": {
      const key = JSON.stringify(message.rules);
      let rules = ruleSets.get(key);
      if (!rules) {
        rules = message.rules;
        ruleSets.set(key, rules);
      }
      const id = message.id;
      const entry = { stream: new MaskingStream(rules, { maxCarry: message.maxCarry }), out: [] as Buffer[] };
      entry.stream.on("data", (chunk: Buffer) => entry.out.push(chunk));
      entry.stream.on("end", () => {
        streams.delete(id);
        const data = drain(entry.out);
        const reply: FromWorker = { t: "end", id, data, findings: entry.stream.findings() };
        port.postMessage(reply, [data.buffer as ArrayBuffer]);
      });
      entry.stream.on("error", (error) => {
        streams.delete(id);
        port.postMessage({ t: "error", id, message: error.message } satisfies FromWorker);
      });
      streams.set(id, entry);
      break;
    }
    case "data": {
      const entry = streams.get(message.id);
      if (!entry) break;
      const bytes = message.data.byteLength;
      // One reply per chunk: its masked output (possibly empty, when held back) and the ack.
      entry.stream.write(Buffer.from(message.data.buffer, 0, bytes), () => {
        const data = drain(entry.out);
        port.postMessage({ t: "data", id: message.id, data, bytes } satisfies FromWorker, [
          data.buffer as ArrayBuffer,
        ]);
      });
      break;
    }
    case "end":
      streams.get(message.id)?.stream.end();
      break;
    case "drop":
      streams.get(message.id)?.stream.destroy();
      streams.delete(message.id);
      break;
  }
});
