import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collect, until } from "../support/events.ts";
import { type PgProxyFixture, startPgProxyFixture } from "../support/pg-proxy.ts";

const SSNS = ["123-45-6789", "234-56-7890"];
const AWS_KEY = "AKIAIOSFODNN7EXAMPLE";

const SEED = `
CREATE TABLE employees (id int PRIMARY KEY, name text, ssn text);
INSERT INTO employees VALUES (1, 'Ada', '${SSNS[0]}'), (2, 'Grace', '${SSNS[1]}');
CREATE TABLE jobs (id int PRIMARY KEY, title text);
INSERT INTO jobs VALUES (1, 'nightly-export');
CREATE VIEW staff AS SELECT id, ssn FROM employees;
CREATE FUNCTION ssn_of(int) RETURNS text LANGUAGE sql STABLE AS 'SELECT ssn FROM employees WHERE id = $1';
CREATE FUNCTION shout(int) RETURNS void LANGUAGE plpgsql AS $$
  BEGIN RAISE NOTICE 'ssn %', (SELECT ssn FROM employees WHERE id = $1); END $$;`;

const POLICY = (port: number, env: string) => `
targets: [{ name: app, protocol: postgres, address: "127.0.0.1:${port}", credential: { env: ${env} }, masking: hr }]
access: [{ name: agents, who: { groups: [agents] }, targets: [app], level: admin }]
masking:
  - name: hr
    columns: [{ column: "*.employees.ssn", strategy: redact }]
    detectors: [{ detector: aws_access_key_id, strategy: redact }, { detector: email, strategy: redact }]
`;

/**
 * Masked columns must not leave out of band — through LISTEN/NOTIFY or messages PL/pgSQL
 * raises — while NOTIFY over other data keeps working.
 */
describe("PostgreSQL proxy: masking and out-of-band channels (NOTIFY, RAISE)", () => {
  let fx: PgProxyFixture;
  let agent: pg.Client;
  let listener: pg.Client;
  const heard: Record<string, string[]> = { agent: [], listener: [] };
  beforeAll(async () => {
    fx = await startPgProxyFixture((db, env) => POLICY(db.port, env), SEED);
    // Admin access, so DO blocks are refused by the masking profile and not by the access level.
    const { token } = await fx.gate.credential({ target: "app", access: "admin" });
    agent = await fx.connect({ password: token });
    listener = await fx.connect({ password: token });
    for (const [name, client] of [
      ["agent", agent],
      ["listener", listener],
    ] as const) {
      client.on("notification", (n) => heard[name]?.push(`${n.channel}:${n.payload}`));
      await client.query("LISTEN leak; LISTEN jobs");
    }
  });
  afterAll(async () => {
    await agent?.end();
    await listener?.end();
    await fx?.close();
  });

  /** Notifies `marker` last: once both sessions heard it, everything notified before it has arrived too. */
  async function drain(marker: string): Promise<void> {
    await agent.query(`NOTIFY jobs, '${marker}'`);
    await until(() => heard.agent?.includes(`jobs:${marker}`) === true);
    await until(() => heard.listener?.includes(`jobs:${marker}`) === true);
  }

  const reset = () => {
    for (const list of Object.values(heard)) list.length = 0;
  };

  it("refuses pg_notify over masked columns wherever it sits, and nothing masked is notified", async () => {
    reset();
    const column = "pg_notify could carry masked column public.employees.ssn out of band";
    const hidden = "code Sluice cannot see into";
    const cases: [string, string][] = [
      ["SELECT pg_notify('leak', ssn) FROM employees", column],
      ["SELECT id FROM employees WHERE pg_notify('leak', ssn) IS NOT NULL", column],
      ["WITH x AS (SELECT pg_catalog.pg_notify('leak', ssn) FROM employees) SELECT count(*) FROM x", column],
      ["SELECT (SELECT pg_notify('leak', ssn) FROM employees LIMIT 1) AS v", column],
      ["SELECT * FROM pg_notify('leak', (SELECT ssn FROM employees WHERE id = 1))", column],
      ["SELECT pg_notify('leak', name) FROM employees", column],
      ["SELECT pg_notify('leak', ssn) FROM staff", column],
      ["LISTEN leak2; SELECT pg_notify('leak', ssn) FROM employees", column],
      ["SELECT pg_notify('leak', ssn_of(1))", "pg_notify could carry the output of ssn_of"],
      ["DO $$ BEGIN PERFORM pg_notify('leak', (SELECT ssn FROM employees LIMIT 1)); END $$", hidden],
      ["DO $$ BEGIN EXECUTE format('NOTIFY leak, %L', (SELECT ssn FROM employees LIMIT 1)); END $$", hidden],
    ];
    for (const [sql, reason] of cases) {
      const error = await agent.query(sql).then(
        () => null,
        (e: Error & { code?: string }) => e,
      );
      expect(error?.message, sql).toContain(reason);
      expect(error?.code, sql).toBe("42501");
    }
    // Extended protocol: unnamed and named prepared statements.
    const extended = "SELECT pg_notify($1, ssn) FROM employees WHERE id = $2";
    await expect(agent.query(extended, ["leak", 1])).rejects.toMatchObject({ code: "42501" });
    await expect(agent.query({ name: "n", text: extended, values: ["leak", 2] })).rejects.toMatchObject({
      code: "42501",
    });
    await drain("after-refusals");
    expect(heard.agent).toEqual(["jobs:after-refusals"]);
    expect(heard.listener).toEqual(["jobs:after-refusals"]);
  });

  it("refuses set_config over masked columns: a setting would carry the value back", async () => {
    const laundering = [
      "SELECT set_config('application_name', ssn, false) FROM employees WHERE id = 1",
      "SELECT id FROM employees WHERE set_config('x.leak', ssn, false) IS NOT NULL",
      "SELECT pg_catalog.set_config('x.leak', (SELECT ssn FROM staff LIMIT 1), false)",
    ];
    for (const sql of laundering) {
      await expect(agent.query(sql), sql).rejects.toMatchObject({
        code: "42501",
        message: expect.stringContaining("set_config could carry masked column public.employees.ssn"),
      });
    }
    expect((await agent.query("SELECT current_setting('x.leak', true) AS v")).rows[0].v ?? "").toBe("");
    // Over unmasked data set_config is an ordinary function.
    await agent.query("SELECT set_config('x.title', title, false) FROM jobs WHERE id = 1");
    expect((await agent.query("SELECT current_setting('x.title') AS v")).rows).toEqual([
      { v: "nightly-export" },
    ]);
  });

  it("passes pg_notify and NOTIFY over unmasked data through, on both protocols", async () => {
    reset();
    await agent.query("SELECT pg_notify('jobs', title) FROM jobs WHERE id = 1");
    await agent.query("SELECT pg_notify('jobs', title || $1) FROM jobs WHERE id = $2", ["-2", 1]);
    await agent.query("SELECT pg_notify('jobs', 'plain')");
    await drain("done");
    const expected = ["jobs:nightly-export", "jobs:nightly-export-2", "jobs:plain", "jobs:done"];
    expect(heard.agent).toEqual(expected);
    expect(heard.listener).toEqual(expected);
  });

  it("masks secrets in notification payloads by content, whoever sent them, and records it", async () => {
    reset();
    const payload = `clé ${AWS_KEY} pour ops@example.com`;
    await agent.query(`SELECT pg_notify('jobs', '${payload}')`);
    // Sent past Sluice, straight to the database: only the payload layer stands in its way.
    await fx.admin(`NOTIFY jobs, 'direct ${AWS_KEY}'`);
    await drain("end");
    const masked = "clé «redacted:aws_access_key_id» pour «redacted:email»";
    for (const list of [heard.agent, heard.listener])
      expect(list).toEqual([`jobs:${masked}`, "jobs:direct «redacted:aws_access_key_id»", "jobs:end"]);
    // The sessions still work: the re-framed messages were well-formed.
    expect((await listener.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    const events = await collect(fx.gate.store.readAll());
    const recorded = events
      .filter((e) => e.type === "CommandCompleted")
      .flatMap((e) => (e.data as { masked: { field: string; rule: string; count: number }[] }).masked);
    expect(recorded).toContainEqual({ field: "notification jobs", rule: "hr/aws_access_key_id", count: 1 });
    const flat = (e: unknown) => JSON.stringify(e, (_, v) => (typeof v === "bigint" ? String(v) : v));
    expect(events.filter((e) => flat(e).includes(AWS_KEY))).toEqual([]);
  });

  it("redacts what PL/pgSQL code raises unless the agent typed it, in notices and errors", async () => {
    const notices: string[] = [];
    const onNotice = (n: { message?: string }) => notices.push(n.message ?? "");
    agent.on("notice", onNotice);
    try {
      await agent.query(
        "DO $$ DECLARE s text; BEGIN SELECT ssn INTO s FROM employees WHERE id = 1; RAISE NOTICE '%', s; END $$",
      );
      await agent.query("SELECT shout(2)");
      await agent.query("DO $$ BEGIN RAISE NOTICE 'all done'; END $$");
      expect(notices).toEqual(["«redacted»", "«redacted»", "all done"]);
      const error = await agent
        .query(
          "DO $$ DECLARE s text; BEGIN SELECT ssn INTO s FROM employees WHERE id = 2; RAISE EXCEPTION USING MESSAGE = s, DETAIL = s, COLUMN = s; END $$",
        )
        .catch((e: pg.DatabaseError) => e);
      expect(error).toMatchObject({ message: "«redacted»", detail: "«redacted»", column: "«redacted»" });
      expect(JSON.stringify(error)).not.toContain(SSNS[1]);
    } finally {
      agent.off("notice", onNotice);
    }
  });
});
