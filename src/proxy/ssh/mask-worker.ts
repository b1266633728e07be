import { parentPort } from "node:worker_threads";
import { ChunkMasker, type ContentRule } from "../../gate/masking/index.ts";
import type { FromWorker, ToWorker } from "./mask-pool.ts";

/**
 * Worker thread of the masking pool: one ChunkMasker (MaskingStream's engine, without the
 * stream machinery) per stream id, fed the chunks the main thread posts, its output posted
 * back in order. The engine caches compiled plans per rules array, so equal rule sets share
 * one array here.
 */

const port = parentPort;
if (!port) throw new Error("mask-worker runs as a worker thread");
const maskers = new Map<number, ChunkMasker>();
const ruleSets = new Map<string, ContentRule[]>();
const out: Buffer[] = [];

/** What a masker produced, as one standalone (transferable) array; `out` is emptied. */
function drain(): Uint8Array {
  let size = 0;
  for (const b of out) size += b.length;
  const data = new Uint8Array(size);
  let at = 0;
  for (const b of out) {
    data.set(b, at);
    at += b.length;
  }
  out.length = 0;
  return data;
}

function fail(id: number, error: unknown): void {
  maskers.delete(id);
  out.length = 0;
  const message = error instanceof Error ? error.message : String(error);
  port?.postMessage({ t: "error", id, message } satisfies FromWorker);
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
      try {
        maskers.set(message.id, new ChunkMasker(rules, message.maxCarry));
      } catch (error) {
        fail(message.id, error);
      }
      break;
    }
    case "data": {
      const masker = maskers.get(message.id);
      if (!masker) break;
      const bytes = message.data.byteLength;
      try {
        masker.write(Buffer.from(message.data.buffer, message.data.byteOffset, bytes), out);
      } catch (error) {
        fail(message.id, error);
        break;
      }
      // One reply per message: its masked output (possibly empty, when held back) and the ack.
      const data = drain();
      port.postMessage({ t: "data", id: message.id, data, bytes } satisfies FromWorker, [
        data.buffer as ArrayBuffer,
      ]);
      break;
    }
    case "end": {
      const masker = maskers.get(message.id);
      if (!masker) break;
      try {
        masker.end(out);
      } catch (error) {
        fail(message.id, error);
        break;
      }
      maskers.delete(message.id);
      const data = drain();
      const reply: FromWorker = { t: "end", id: message.id, data, findings: masker.findings() };
      port.postMessage(reply, [data.buffer as ArrayBuffer]);
      break;
    }
    case "drop":
      maskers.delete(message.id);
      break;
  }
});
