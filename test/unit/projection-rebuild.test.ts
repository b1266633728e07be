import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Checkpoints, openReadModels } from "../../projections/database.ts";
import { allProjections } from "../../projections/index.ts";
import type { Projection } from "../../projections/projection.ts";
import { ProjectionRunner } from "../../projections/runner.ts";
import { sessionsProjection } from "../../projections/sessions.ts";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { until } from "../support/events.ts";
import { makeTempDir, type TempDir } from "../support/tempdir.ts";
import { appendScenario, busySession, dumpTables } from "./projection-fixtures.ts";

const TABLES = allProjections.flatMap((p) => p.tables);

/** Folds the whole log into a fresh in-memory database: the reference a rebuild must equal. */
async function fromZero(store: SqliteEventStore) {
  const db = openReadModels(":memory:");
  const runner = new ProjectionRunner({ store, db, projections: allProjections });
  await runner.catchUp();
  await runner.stop();
  const dump = dumpTables(db, TABLES);
  db.close();
  return dump;
}

describe("projection runner: replay, rebuild and versions", () => {
  let dir: TempDir;
  let store: SqliteEventStore;

  beforeEach(async () => {
    dir = makeTempDir("rebuild");
    store = await SqliteEventStore.open({ path: join(dir.path, "sluice.db"), pollMs: 50 });
    await appendScenario(store);
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  it("gives identical read models when replayed from zero, and follows new events live", async () => {
    const db = openReadModels(join(dir.path, "read-models.db"));
    const runner = new ProjectionRunner({ store, db, projections: allProjections, maxBatch: 3 });
    await runner.catchUp();
    const first = dumpTables(db, TABLES);
    expect(first.audit_commands).toHaveLength(3);

    await runner.rebuild();
    expect(dumpTables(db, TABLES)).toEqual(first);

    // Live: new events become visible without a restart.
    const { position } = await store.append("session-busy-1", busySession(1, 4));
    expect(await runner.waitFor(position, 5000)).toBe(true);
    expect(dumpTables(db, TABLES)).toEqual(await fromZero(store));
    await runner.stop();
    db.close();
  });

  it("rebuilds while events keep arriving, ending equal to a replay from zero", async () => {
    const db = openReadModels(join(dir.path, "read-models.db"));
    const runner = new ProjectionRunner({ store, db, projections: allProjections, maxBatch: 50 });
    await runner.start();
    let appended = 0;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let n = w; n < 120; n += 4) {
        await store.append(`session-busy-${n}`, busySession(n, 5));
        appended += 1;
      }
    });
    await until(() => appended >= 30);
    const rebuilding = runner.rebuild(["sessions", "audit"]);
    await until(() => appended >= 60);
    await runner.rebuild(["approvals"]);
    await Promise.all(writers);
    await rebuilding;
    expect(await runner.waitFor(await store.headPosition(), 10_000)).toBe(true);
    const rebuilt = dumpTables(db, TABLES);
    expect(rebuilt.sessions).toHaveLength(121);
    expect(rebuilt).toEqual(await fromZero(store));
    await runner.stop();
    db.close();
  });

  it("notices a rebuild made by another process on the same file, applying no event twice", async () => {
    const path = join(dir.path, "read-models.db");
    const db = openReadModels(path);
    const gateway = new ProjectionRunner({ store, db, projections: allProjections });
    await gateway.catchUp();
    // `sluice projections rebuild sessions` from another connection, while the gateway runs.
    const cliDb = openReadModels(path);
    const cli = new ProjectionRunner({ store, db: cliDb, projections: allProjections });
    await cli.rebuild(["sessions"]);
    await cli.catchUp();
    await cli.stop();
    cliDb.close();
    for (let n = 0; n < 10; n++) await store.append(`session-busy-${n}`, busySession(n, 3));
    expect(await gateway.waitFor(await store.headPosition(), 5000)).toBe(true);
    expect(dumpTables(db, TABLES)).toEqual(await fromZero(store));
    await gateway.stop();
    db.close();
  });

  it("rebuilds a read model whose version changed, and reports lag until caught up", async () => {
    const path = join(dir.path, "read-models.db");
    const db = openReadModels(path);
    const runner = new ProjectionRunner({ store, db, projections: allProjections });
    await runner.catchUp();
    await runner.stop();
    // Rows a fold of the old version left behind that the new version would not write.
    db.prepare("UPDATE sessions SET end_reason = 'stale'").run();

    const next: Projection = { ...sessionsProjection, version: sessionsProjection.version + 1 };
    const projections = allProjections.map((p) => (p.name === "sessions" ? next : p));
    const upgraded = new ProjectionRunner({ store, db, projections });
    const before = new Checkpoints(db).all();
    expect(before.get("sessions")?.version).toBe(sessionsProjection.version);
    await upgraded.start();
    const status = await upgraded.status();
    const head = await store.headPosition();
    // Right after start the new version begins from zero (unless it already caught up).
    expect(status.find((s) => s.name === "sessions")?.version).toBe(next.version);
    await upgraded.catchUp();
    expect(new Checkpoints(db).all().get("sessions")).toMatchObject({
      version: next.version,
      position: head,
    });
    expect(db.prepare("SELECT end_reason FROM sessions").pluck().all()).toEqual(["client terminated"]);
    expect((await upgraded.status()).every((s) => s.lag === 0n)).toBe(true);
    await upgraded.stop();
    db.close();
  });

  it("rolls a failed batch back whole and retries it: nothing lost, nothing applied twice", async () => {
    let failures = 1;
    const flaky: Projection = {
      name: "flaky",
      version: 1,
      tables: ["flaky"],
      schema: "CREATE TABLE IF NOT EXISTS flaky (position INTEGER PRIMARY KEY, type TEXT NOT NULL);",
      prepare(db) {
        // A plain INSERT: applying an event twice would fail on the primary key.
        const insert = db.prepare("INSERT INTO flaky (position, type) VALUES (?, ?)");
        return {
          apply(event) {
            if (event.position === 5n && failures-- > 0) throw new Error("the fold failed once");
            insert.run(event.position, event.type);
          },
        };
      },
    };
    const db = openReadModels(":memory:");
    const runner = new ProjectionRunner({ store, db, projections: [flaky] });
    await runner.start();
    await until(() => runner.lastError !== null);
    expect(runner.lastError?.message).toBe("the fold failed once");
    // The whole batch rolled back with its checkpoint.
    expect(db.prepare("SELECT count(*) FROM flaky").pluck().get()).toBe(0);
    expect(runner.position("flaky")).toBe(0n);
    await runner.catchUp();
    const head = await store.headPosition();
    expect(db.prepare("SELECT count(*) FROM flaky").pluck().get()).toBe(Number(head));
    expect(runner.lastError).toBeNull();
    await runner.stop();
    db.close();
  });

  it("reports lag against the head while a read model is behind", async () => {
    const db = openReadModels(":memory:");
    const runner = new ProjectionRunner({ store, db, projections: allProjections });
    const head = await store.headPosition();
    // Not started: every checkpoint is where it was stored (nowhere yet).
    new Checkpoints(db).ensure(sessionsProjection);
    const status = await runner.status();
    expect(status.find((s) => s.name === "sessions")).toMatchObject({ position: 0n, head, lag: head });
    await runner.catchUp();
    expect(runner.caughtUp).toBe(true);
    expect((await runner.status()).find((s) => s.name === "sessions")?.lag).toBe(0n);
    await runner.stop();
    db.close();
  });
});
