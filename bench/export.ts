/**
 * bench/export: builds a SQLite log of 1M events (sessions of SessionStarted, four decided and
 * completed statements, SessionEnded; a seal every 100k events), then exports it as JSONL, CSV and
 * OCSF. Each export runs in its own process so its peak memory is its own; each format runs over
 * the first 10%, the first half and the whole log: peaks that stop growing show memory is bounded.
 * The baseline is a bare read of the same events ($all catch-up) in the same kind of process.
 *   npx tsx bench/export.ts [-- --events 1000000]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { makeMetadata, type NewEvent, newEvent } from "../src/events/index.ts";
import { sealNow } from "../src/eventstore/seal.ts";
import { SqliteEventStore } from "../src/eventstore/sqlite.ts";
import { runExport } from "../src/export/export.ts";
import type { ExportFormat } from "../src/export/manifest.ts";
import { loadOrCreateSigningKey } from "../src/identity/signing-key.ts";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "1000000" },
    child: { type: "string" },
    dir: { type: "string" },
    to: { type: "string" },
  },
});

interface Measure {
  events: number;
  seconds: number;
  peakRssMb: number;
  peakHeapMb: number;
}

if (values.child) {
  process.stdout.write(
    JSON.stringify(await child(values.child, values.dir as string, BigInt(values.to as string))),
  );
} else {
  await main(Number(values.events));
}

async function main(total: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-export-"));
  try {
    const started = performance.now();
    await fill(dir, total);
    process.stdout.write(
      `built ${total} events in ${((performance.now() - started) / 1000).toFixed(1)} s\n\n`,
    );
    const tenth = BigInt(Math.floor(total / 10));
    const half = BigInt(Math.floor(total / 2));
    const rows: string[][] = [
      [
        "run",
        "events",
        "events/s",
        "vs read",
        "peak heap MB (10% / 50% / all)",
        "peak RSS MB (10% / 50% / all)",
      ],
    ];
    let baseline = 0;
    for (const run of ["read", "jsonl", "csv", "ocsf"]) {
      const part = await inChild(run, dir, tenth);
      const middle = await inChild(run, dir, half);
      const whole = await inChild(run, dir, BigInt(total) + 100n);
      const rate = whole.events / whole.seconds;
      if (run === "read") baseline = rate;
      rows.push([
        run,
        String(whole.events),
        Math.round(rate).toLocaleString("en"),
        (rate / baseline).toFixed(2),
        [part, middle, whole].map((m) => m.peakHeapMb.toFixed(0)).join(" / "),
        [part, middle, whole].map((m) => m.peakRssMb.toFixed(0)).join(" / "),
      ]);
    }
    const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
    for (const row of rows)
      process.stdout.write(`${row.map((cell, i) => cell.padStart(widths[i] as number)).join("  ")}\n`);
    process.stdout.write(
      "\nread = $all catch-up alone; each export adds its format, a file written through a hash, and the manifest.\n" +
        "10% / 50% / all: the first tenth of the log, half, all of it. Memory is bounded by fixed caps (20k stream\n" +
        "heads, 20k sessions, 10k held decisions), not by the size of the range. Heap peaks include garbage not yet collected.\n",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function fill(dir: string, total: number): Promise<void> {
  const key = await loadOrCreateSigningKey(join(dir, "key.jwk"));
  const store = await SqliteEventStore.open({ path: join(dir, "sluice.db") });
  const perSession = 10;
  const sessions = Math.ceil(total / perSession);
  let next = 0;
  let appended = 0;
  let sealedAt = 0;
  // 64 sessions in flight: group commit batches them as the gateway would.
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < sessions) {
        const s = next++;
        await store.append(
          `session-b${s}`,
          sessionEvents(`b${s}`, Math.min(perSession, total - s * perSession)),
        );
        appended += perSession;
        if (appended - sealedAt >= 100_000) {
          sealedAt = appended;
          await sealNow(store, { key, gatewayInstance: "bench" });
        }
      }
    }),
  );
  await store.close();
}

function sessionEvents(sessionId: string, count: number): NewEvent[] {
  const meta = () =>
    makeMetadata({ gatewayInstance: "bench", sessionId, actor: "agent-42", taskId: "task-7" });
  const events: NewEvent[] = [
    newEvent(
      "SessionStarted",
      {
        sessionId,
        protocol: "postgres",
        target: "orders-db",
        identity: { subject: "agent-42", groups: ["agents"] },
        client: { address: "10.0.0.7:51000", application: "psql" },
      },
      meta(),
    ),
  ];
  for (let c = 0; events.length < count - 1; c++) {
    const commandId = `${sessionId}-${c}`;
    events.push(
      newEvent(
        "CommandDecided",
        {
          sessionId,
          commandId,
          protocol: "postgres",
          command: `SELECT id, email, total FROM orders WHERE customer_id = ${c} LIMIT 50`,
          classification: { kinds: ["select"], relations: ["public.orders"], functions: [] },
          decision: "allow",
          rule: "agents-read-orders",
          reason: "allowed by rule agents-read-orders",
          policyVersion: 7,
        },
        meta(),
      ),
      newEvent(
        "CommandCompleted",
        { sessionId, commandId, status: "ok", durationMs: 1.2, rows: 50, tag: "SELECT 50", masked: [] },
        meta(),
      ),
    );
  }
  events.push(newEvent("SessionEnded", { sessionId, reason: "client terminated", durationMs: 900 }, meta()));
  return events.slice(0, count);
}

function inChild(run: string, dir: string, to: bigint): Promise<Measure> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        fileURLToPath(import.meta.url),
        "--child",
        run,
        "--dir",
        dir,
        "--to",
        to.toString(),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(JSON.parse(out) as Measure) : reject(new Error(`${run} exited ${code}`)),
    );
  });
}

async function child(run: string, dir: string, to: bigint): Promise<Measure> {
  let peakHeap = 0;
  const sampler = setInterval(() => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }, 25);
  const store = await SqliteEventStore.open({ path: join(dir, "sluice.db") });
  const started = performance.now();
  let events = 0;
  if (run === "read") {
    for await (const event of store.readAllRaw()) {
      if (event.position > to) break;
      events += 1;
    }
  } else {
    const key = await loadOrCreateSigningKey(join(dir, "key.jwk"));
    const out = join(dir, `out-${run}-${to}`);
    const manifest = await runExport(store, {
      format: run as ExportFormat,
      outDir: out,
      key,
      gatewayInstance: "bench",
      toPosition: to,
    });
    events = manifest.counts.events;
    rmSync(out, { recursive: true, force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  await store.close();
  return {
    events,
    seconds,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    peakHeapMb: Math.max(peakHeap, process.memoryUsage().heapUsed) / 1048576,
  };
}
