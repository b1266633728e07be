import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { makeMetadata, type NewEvent, newEvent } from "../../src/events/index.ts";
import { WrongExpectedRevisionError } from "../../src/eventstore/conflict.ts";
import type { EventStore } from "../../src/eventstore/port.ts";
import { PostgresEventStore } from "../../src/eventstore/postgres.ts";
import type { RemovalFacts } from "../../src/eventstore/removal.ts";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { collect, taskEvent } from "../support/events.ts";
import { type PostgresServer, startPostgres } from "../support/postgres.ts";

/**
 * Range removal, the store half of retention, on each SQL engine: the facts a removal records,
 * and the removal itself (delete + LedgerRangeRemoved in one transaction, only if the facts hold).
 * EventStoreDB has no removal: retention refuses that store (its own stream limits apply there).
 */

const meta = () => makeMetadata({ gatewayInstance: "test" });
const policyEvent = (version: number) =>
  newEvent(
    "PolicyVersionPublished",
    { version, hash: "a".repeat(64), author: { subject: "alice" }, document: {}, diff: [] },
    meta(),
  );
const targetEvent = () =>
  newEvent("TargetRegistered", { name: "db", protocol: "postgres", address: "h:5432" }, meta());
const sessionEvent = (n: number) =>
  newEvent("SessionEnded", { sessionId: "x", reason: `r${n}`, durationMs: n }, meta());

function removalEvent(facts: RemovalFacts): NewEvent {
  return newEvent(
    "LedgerRangeRemoved",
    {
      fromPosition: "0",
      toPosition: "5",
      removed: facts.removed,
      seals: [{ fromPosition: "0", toPosition: "5", count: 5, merkleRoot: "b".repeat(64) }],
      kept: facts.kept,
      carried: facts.carried,
      archive: { format: "jsonl", manifestSha256: "c".repeat(64), location: "ledger-0-5" },
      removedAt: new Date().toISOString(),
      keyId: "k",
      signature: "not checked by the store",
    },
    meta(),
  );
}

function removalContract(
  name: string,
  makeHarness: () => Promise<{ open(): Promise<EventStore>; dispose(): Promise<void> }>,
) {
  describe(`range removal: ${name}`, () => {
    let harness: Awaited<ReturnType<typeof makeHarness>>;
    let store: EventStore;
    const range = { after: 0n, to: 5n };

    /** Positions 1..7: task-a r0, policy r0, session-x r0, target-db r0, task-a r1 | session-x r1, task-b r0. */
    beforeEach(async () => {
      harness = await makeHarness();
      store = await harness.open();
      await store.append("task-a", [taskEvent(1, "a")]);
      await store.append("policy", [policyEvent(1)]);
      await store.append("session-x", [sessionEvent(1)]);
      await store.append("target-db", [targetEvent()]);
      await store.append("task-a", [taskEvent(2, "a")]);
      await store.append("session-x", [sessionEvent(2)]);
      await store.append("task-b", [taskEvent(3, "b")]);
    });
    afterEach(async () => {
      await store.close();
      await harness.dispose();
    });

    const hashAt = async (position: bigint) =>
      (await collect(store.readAllRaw())).find((e) => e.position === position)?.hash as string;

    it("states what a range removal would delete, keep and carry over", async () => {
      const facts = await store.removalFacts?.(range);
      const keptDigest = createHash("sha256")
        .update(await hashAt(2n))
        .update(await hashAt(4n))
        .digest("hex");
      expect(facts).toEqual({
        removed: 3,
        kept: { count: 2, digest: keptDigest },
        carried: [{ stream: "session-x", revision: "0", hash: await hashAt(3n) }],
      });
    });

    it("deletes the range but kept streams and appends the removal event, in one transaction", async () => {
      const facts = (await store.removalFacts?.(range)) as RemovalFacts;
      const result = await store.removeRange?.({
        range,
        facts,
        event: removalEvent(facts),
        expectedRevision: "no_stream",
      });
      expect(result).toEqual({ nextExpectedRevision: 0n, position: 8n });
      const left = await collect(store.readAllRaw());
      expect(left.map((e) => [e.position, e.stream])).toEqual([
        [2n, "policy"],
        [4n, "target-db"],
        [6n, "session-x"],
        [7n, "task-b"],
        [8n, "$retention"],
      ]);
      expect(left[4]?.type).toBe("LedgerRangeRemoved");
      expect(await store.headPosition()).toBe(8n);
      // A stream cut in the middle goes on at its next revision; one removed whole starts afresh.
      const cut = await store.append("session-x", [sessionEvent(3)]);
      const fresh = await store.append("task-a", [taskEvent(4, "a")]);
      expect([cut.nextExpectedRevision, fresh.nextExpectedRevision]).toEqual([2n, 0n]);
    });

    it("removes nothing when an append changed the facts after they were planned", async () => {
      const facts = (await store.removalFacts?.(range)) as RemovalFacts;
      await store.append("task-a", [taskEvent(5, "a")]); // task-a now goes on after the range
      await expect(
        store.removeRange?.({ range, facts, event: removalEvent(facts), expectedRevision: "no_stream" }),
      ).rejects.toMatchObject({
        code: "WRONG_EXPECTED_REVISION",
        message: /changed since its removal was planned/,
      });
      expect(await collect(store.readAllRaw())).toHaveLength(8);
      expect(await collect(store.readStream("$retention"))).toEqual([]);
    });

    it("removes nothing when another removal was appended first", async () => {
      const facts = (await store.removalFacts?.(range)) as RemovalFacts;
      await expect(
        store.removeRange?.({ range, facts, event: removalEvent(facts), expectedRevision: 0n }),
      ).rejects.toBeInstanceOf(WrongExpectedRevisionError);
      expect(await collect(store.readAllRaw())).toHaveLength(7);
    });
  });
}

removalContract("SQLite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-removal-"));
  return {
    open: () => SqliteEventStore.open({ path: join(dir, "sluice.db"), pollMs: 50 }),
    async dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

let server: PostgresServer;
let schemas = 0;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

removalContract("PostgreSQL", async () => {
  const schema = `removal_${process.pid}_${schemas++}`;
  return {
    open: () => PostgresEventStore.open({ connectionString: server.url, schema, pollMs: 100 }),
    async dispose() {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    },
  };
});
