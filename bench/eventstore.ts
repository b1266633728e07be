/**
 * bench/eventstore: durable appends/s with 1, 8 and 64 concurrent writers on SQLite and
 * PostgreSQL (ratio to 1 writer), and $all catch-up reads/s over 1M events.
 * Each writer appends one realistic CommandDecided per append and awaits durability.
 *   npm run bench:eventstore [-- --events 1000000 --seconds 3]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeMetadata, type NewEvent, newEvent } from "../src/events/index.ts";
import type { EventStore } from "../src/eventstore/port.ts";
import { PostgresEventStore } from "../src/eventstore/postgres.ts";
import { SqliteEventStore } from "../src/eventstore/sqlite.ts";
import { startPostgres } from "../test/support/postgres.ts";

const { values } = parseArgs({
  options: { events: { type: "string", default: "1000000" }, seconds: { type: "string", default: "3" } },
});
const CATCH_UP_EVENTS = Number(values.events);
const SECONDS = Number(values.seconds);

function decided(sessionId: string, n: number): NewEvent {
  return newEvent(
    "CommandDecided",
    {
      sessionId,
      commandId: `${sessionId}-${n}`,
      protocol: "postgres",
      command: `SELECT id, email, total FROM orders WHERE customer_id = ${n} LIMIT 50`,
      classification: { kinds: ["select"], relations: ["public.orders"], functions: [] },
      decision: "allow",
      rule: "agents-read-orders",
      reason: "allowed by rule agents-read-orders",
      policyVersion: 7,
    },
    makeMetadata({ gatewayInstance: "bench", sessionId, actor: "agent-42", taskId: "task-7" }),
  );
}

async function appendRate(store: EventStore, writers: number): Promise<number> {
  const deadline = performance.now() + SECONDS * 1000;
  let appended = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const stream = `session-w${w}-${Math.random().toString(36).slice(2)}`;
      for (let n = 0; performance.now() < deadline; n++) {
        await store.append(stream, [decided(stream, n)]);
        appended += 1;
      }
    }),
  );
  return appended / ((performance.now() - started) / 1000);
}

async function fill(store: EventStore, total: number): Promise<void> {
  const batch = 500;
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      while (next < total) {
        const count = Math.min(batch, total - next);
        next += count;
        const stream = `session-fill-${w}-${next}`;
        await store.append(
          stream,
          Array.from({ length: count }, (_, i) => decided(stream, i)),
        );
      }
    }),
  );
}

/** Subscribes to $all from the start and times the catch-up to the head. */
async function catchUpRate(store: EventStore): Promise<{ rate: number; events: number }> {
  const head = await store.headPosition();
  const started = performance.now();
  let events = 0;
  const subscription = store.subscribeAll();
  for await (const event of subscription) {
    events += 1;
    if (event.position >= head) break;
  }
  await subscription.close();
  return { rate: events / ((performance.now() - started) / 1000), events };
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

async function benchEngine(name: string, open: () => Promise<EventStore>) {
  console.log(`\n${name}: durable appends (one event per append, ${SECONDS}s each)`);
  let single = 0;
  for (const writers of [1, 8, 64]) {
    const store = await open();
    const rate = await appendRate(store, writers);
    await store.close();
    if (writers === 1) single = rate;
    console.log(
      `  ${String(writers).padStart(2)} writers: ${fmt(rate).padStart(9)} events/s  ratio to 1 writer ${(rate / single).toFixed(2)}x`,
    );
  }
  const store = await open();
  const filling = performance.now();
  await fill(store, CATCH_UP_EVENTS);
  const fillSeconds = (performance.now() - filling) / 1000;
  console.log(
    `  filled ${fmt(CATCH_UP_EVENTS)} events in batches of 500: ${fmt(CATCH_UP_EVENTS / fillSeconds)} events/s`,
  );
  const { rate, events } = await catchUpRate(store);
  console.log(
    `  $all catch-up (subscribeAll, validated): ${fmt(rate)} events/s over ${fmt(events)} events (heap ${fmt(process.memoryUsage().heapUsed / 2 ** 20)} MiB)`,
  );
  await store.close();
}

const dir = mkdtempSync(join(tmpdir(), "sluice-bench-"));
let run = 0;
try {
  await benchEngine("SQLite (WAL, synchronous=FULL)", () =>
    SqliteEventStore.open({ path: join(dir, `bench-${run++}.db`) }),
  );
  const pg = await startPostgres();
  try {
    await benchEngine("PostgreSQL 15 (fsync on, synchronous_commit on)", () =>
      PostgresEventStore.open({ connectionString: pg.url, schema: `bench_${run++}`, poolSize: 8 }),
    );
  } finally {
    await pg.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
