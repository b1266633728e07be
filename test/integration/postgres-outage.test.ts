import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresEventStore } from "../../src/eventstore/postgres.ts";
import { collect, take, taskEvent } from "../support/events.ts";
import { type PostgresServer, startPostgres } from "../support/postgres.ts";

/** The PostgreSQL store fails closed while the database is down and serves again when it returns. */
describe("PostgreSQL store outage", () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(() => server?.stop());

  it("rejects appends as STORE_UNAVAILABLE during the outage, then resumes; nothing acknowledged is lost", async () => {
    const store = await PostgresEventStore.open({ connectionString: server.url, pollMs: 100 });
    await store.append("task-a", [taskEvent(1)]);
    const live = store.subscribeAll();
    expect((await take(live, 1))[0]?.revision).toBe(0n);

    // The subscription is waiting for its next event when the database goes away.
    const next = take(live, 1, 20_000);
    await server.crash();
    await expect(store.append("task-a", [taskEvent(2)])).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
    const during = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => store.append(`task-${i}`, [taskEvent(i)])),
    );
    expect(during.every((o) => o.status === "rejected" && o.reason.code === "STORE_UNAVAILABLE")).toBe(true);

    await server.restart();
    const after = await store.append("task-a", [taskEvent(3)]);
    expect(after.nextExpectedRevision).toBe(1n);
    // The live subscription waited out the outage and picks up where it was.
    expect((await next)[0]?.revision).toBe(1n);
    await live.close();
    expect((await collect(store.readAll())).map((e) => e.stream)).toEqual(["task-a", "task-a"]);
    await store.close();
  });
});
