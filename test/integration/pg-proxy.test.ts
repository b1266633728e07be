import { connect } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cancelRequest } from "../../src/proxy/postgres/codec/client-messages.ts";
import { collect, until } from "../support/events.ts";
import { type PgProxyFixture, startPgProxyFixture } from "../support/pg-proxy.ts";

const SEED = `
CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, total numeric(10,2) NOT NULL);
INSERT INTO orders SELECT g, 'customer ' || g, g * 10 FROM generate_series(1, 50) g;
CREATE TABLE audit_log (id serial PRIMARY KEY, note text);
CREATE TABLE inbox (a int, b text);`;

const POLICY = (port: number, env: string) => `
targets: [{ name: app, protocol: postgres, address: "127.0.0.1:${port}", credential: { env: ${env} } }]
access: [{ name: agents, who: { groups: [agents] }, targets: [app], level: read-write }]
rules:
  - { name: no-drop, action: deny, reason: "DROP is never run through agents", match: { sql: { flags: [drop] } } }
  - { name: no-audit-writes, action: deny, match: { sql: { readOnly: false, relations: [audit_log] } } }
`;

/** PostgreSQL's own behaviour through the proxy: what a client sees must be what PostgreSQL would say. */
describe("PostgreSQL proxy: protocol and policy", () => {
  let fx: PgProxyFixture;
  beforeAll(async () => {
    fx = await startPgProxyFixture((db, env) => POLICY(db.port, env), SEED);
  });
  afterAll(async () => fx?.close());

  it("runs simple, unnamed-extended and prepared statements, and records each decision with its parameters", async () => {
    const client = await fx.connect();
    const simple = await client.query("SELECT id, customer FROM orders WHERE id <= 2 ORDER BY id");
    expect(simple.rows).toEqual([
      { id: 1, customer: "customer 1" },
      { id: 2, customer: "customer 2" },
    ]);
    const extended = await client.query("SELECT total FROM orders WHERE id = $1", [7]);
    expect(extended.rows).toEqual([{ total: "70.00" }]);
    for (const id of [3, 4, 5]) {
      const prepared = await client.query({
        name: "by-id",
        text: "SELECT customer FROM orders WHERE id = $1",
        values: [id],
      });
      expect(prepared.rows).toEqual([{ customer: `customer ${id}` }]);
    }
    await client.end();
    const events = await collect(fx.gate.store.readAll());
    const decided = events
      .filter((e) => e.type === "CommandDecided")
      .map((e) => e.data as Record<string, unknown>);
    const prepared = decided.filter((d) => d.command === "SELECT customer FROM orders WHERE id = $1");
    expect(prepared.map((d) => d.parameters)).toEqual([["3"], ["4"], ["5"]]);
    const completed = events
      .filter((e) => e.type === "CommandCompleted")
      .map((e) => e.data as Record<string, unknown>);
    expect(completed.some((c) => c.tag === "SELECT 2" && c.rows === 2 && c.status === "ok")).toBe(true);
  });

  it("denies with SQLSTATE 42501 naming the rule, and the session stays usable on both protocols", async () => {
    const client = await fx.connect();
    await expect(client.query("DROP TABLE orders")).rejects.toMatchObject({
      code: "42501",
      message: expect.stringContaining("rule no-drop"),
    });
    await expect(
      client.query({ name: "write-audit", text: "INSERT INTO audit_log(note) VALUES ($1)", values: ["x"] }),
    ).rejects.toMatchObject({ code: "42501", message: expect.stringContaining("no-audit-writes") });
    expect((await client.query("SELECT count(*)::int AS n FROM orders")).rows[0].n).toBe(50);
    await client.end();
    expect((await fx.admin("SELECT count(*)::int AS n FROM audit_log")).rows[0].n).toBe(0);
  });

  it("a denial inside a transaction aborts it as an error would, and ROLLBACK recovers", async () => {
    const client = await fx.connect();
    await client.query("BEGIN");
    await client.query("UPDATE orders SET total = 0 WHERE id = 1");
    await expect(client.query("DROP TABLE orders")).rejects.toMatchObject({ code: "42501" });
    await expect(client.query("SELECT 1")).rejects.toMatchObject({ code: "25P02" });
    await client.query("ROLLBACK");
    expect((await client.query("SELECT total FROM orders WHERE id = 1")).rows[0].total).toBe("10.00");
    // Pipelined extended statements: the denied one fails the implicit transaction, so the first is rolled back.
    await client.query("BEGIN");
    await client.query("SAVEPOINT s");
    await expect(client.query("INSERT INTO audit_log(note) VALUES ($1)", ["y"])).rejects.toMatchObject({
      code: "42501",
    });
    await client.query("ROLLBACK TO SAVEPOINT s");
    await client.query("COMMIT");
    await client.end();
  });

  it("psql over TLS: scripts, errors mid-script, notices, COPY in and out", async () => {
    const out = await fx.psql(
      ["-At", "-f", "-"],
      [
        "COMMIT;",
        "\\copy (SELECT id, customer FROM orders WHERE id IN (1, 2) ORDER BY id) TO STDOUT",
        "\\copy inbox FROM STDIN",
        "1\tone",
        "2\ttwo",
        "\\.",
        "SELECT string_agg(b, ',' ORDER BY a) FROM inbox;",
      ].join("\n"),
    );
    expect(out.stderr).toContain("WARNING:  there is no transaction in progress");
    expect(out.stdout.split("\n")).toEqual(
      expect.arrayContaining(["1\tcustomer 1", "2\tcustomer 2", "one,two"]),
    );
    expect(out.code).toBe(0);
    const failing = await fx.psql(["-c", "SELECT 1/0"]);
    expect(failing.code).not.toBe(0);
    expect(failing.stderr).toContain("division by zero");
  });

  it("refuses a plaintext password unless allowed, a bad token, and an unknown database with clear errors", async () => {
    const strict = await startPgProxyFixture((db, env) => POLICY(db.port, env), "SELECT 1", {
      allowPasswordWithoutTls: false,
    });
    try {
      const plain = new pg.Client({
        host: "127.0.0.1",
        port: strict.proxy.port,
        user: "a",
        password: strict.token,
        database: "app",
      });
      await expect(plain.connect()).rejects.toMatchObject({
        code: "28000",
        message: expect.stringContaining("sslmode=require"),
      });
      const tls = await strict.connect({ ssl: { rejectUnauthorized: false } });
      expect((await tls.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
      await tls.end();
    } finally {
      await strict.close();
    }
    await expect(fx.connect({ password: "not-a-token" })).rejects.toMatchObject({ code: "28P01" });
    // A database name that is no target: the credential's own target is used (libpq defaults dbname to the user name).
    const scoped = await fx.connect({ database: "agent" });
    expect((await scoped.query("SELECT count(*)::int AS n FROM orders")).rows[0].n).toBe(50);
    await scoped.end();
  });

  it("closes open sessions when their credential is revoked or expires, saying why", async () => {
    const revoked = await fx.gate.credential({ target: "app", access: "read-write" });
    const expiring = await fx.gate.credential({ target: "app", access: "read-write", ttlMs: 1500 });
    const ended = (client: pg.Client) =>
      new Promise<string>((resolve) => client.on("error", (error) => resolve(error.message)));
    const first = await fx.connect({ password: revoked.token });
    const second = await fx.connect({ password: expiring.token });
    const firstEnded = ended(first);
    const secondEnded = ended(second);
    await first.query("SELECT 1");
    await fx.gate.credentials.revoke(
      revoked.credentialId,
      { subject: "sec-team", groups: [], kind: "human" },
      "leaked in a log",
    );
    expect(await firstEnded).toContain("your Sluice credential was revoked");
    expect(await secondEnded).toContain("your Sluice credential expired");
    await expect(fx.connect({ password: revoked.token })).rejects.toMatchObject({ code: "28P01" });
  });

  it("relays a CancelRequest to the right upstream backend", async () => {
    const client = await fx.connect();
    const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
    const sleeping = client.query("SELECT pg_sleep(30)");
    await new Promise((r) => setTimeout(r, 300));
    const socket = connect(fx.proxy.port, "127.0.0.1", () => socket.end(cancelRequest(processID, secretKey)));
    await expect(sleeping).rejects.toMatchObject({ code: "57014" });
    expect((await client.query("SELECT 2 AS two")).rows).toEqual([{ two: 2 }]);
    await client.end();
  });

  it("serves many concurrent sessions and passes LISTEN/NOTIFY through", async () => {
    const listener = await fx.connect();
    const heard: string[] = [];
    listener.on("notification", (n) => heard.push(n.payload ?? ""));
    await listener.query("LISTEN jobs");
    const clients = await Promise.all(Array.from({ length: 20 }, () => fx.connect()));
    const sums = await Promise.all(
      clients.map(
        async (c, i) =>
          (await c.query("SELECT sum(total)::int AS s FROM orders WHERE id <= $1", [i + 1])).rows[0].s,
      ),
    );
    expect(sums).toEqual(clients.map((_, i) => ((i + 1) * (i + 2) * 10) / 2));
    await clients[0]?.query("SELECT pg_notify('jobs', 'job-7')");
    await until(() => heard.includes("job-7"));
    await Promise.all([...clients, listener].map((c) => c.end()));
  });

  it("streams large rows and large results", async () => {
    const client = await fx.connect();
    const big = await client.query("SELECT repeat('x', 5000000) AS v");
    expect(big.rows[0].v.length).toBe(5_000_000);
    const many = await client.query("SELECT g, md5(g::text) FROM generate_series(1, 100000) g");
    expect(many.rowCount).toBe(100_000);
    await client.end();
  });
});
