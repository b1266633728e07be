import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  B,
  type BackendFrame,
  BackendFramer,
  decodeDataRow,
} from "../../src/proxy/postgres/codec/backend.ts";
import * as up from "../../src/proxy/postgres/codec/client-messages.ts";
import { type PgProxyFixture, startPgProxyFixture } from "../support/pg-proxy.ts";

const exec = promisify(execFile);
const REDACTED = "«redacted»";
const SECRET = "123-45-6789";
const HR_PASSWORD = "hr-agent-password";

/**
 * Lineage resolves unqualified names along the session's REAL search_path: hr.employees has
 * its ssn masked, public.employees (same name, same columns) has nothing masked, and an
 * expression over ssn has no column origin, so only lineage can tell which table it read.
 * Through a wrong path the real SSN would leave unmasked.
 */
describe("PostgreSQL proxy: lineage follows the session's search_path", () => {
  let fx: PgProxyFixture;
  let admin: string;
  beforeAll(async () => {
    fx = await startPgProxyFixture(
      (db, env) => {
        process.env[`${env}_HR`] =
          `postgresql://hr_agent:${HR_PASSWORD}@127.0.0.1:${db.port}/${encodeURIComponent(db.database)}`;
        return `
targets:
  - { name: app, protocol: postgres, address: "127.0.0.1:${db.port}", credential: { env: ${env} }, masking: pii }
  - { name: app-hr, protocol: postgres, address: "127.0.0.1:${db.port}", credential: { env: ${env}_HR }, masking: pii }
access: [{ name: agents, who: { groups: [agents] }, targets: ["app*"], level: admin }]
masking:
  - name: pii
    columns: [{ column: "hr.employees.ssn", strategy: redact }]
`;
      },
      `CREATE SCHEMA hr;
       CREATE TABLE hr.employees (id int, name text, ssn text);
       INSERT INTO hr.employees VALUES (1, 'Ann', '${SECRET}');
       CREATE TABLE public.employees (id int, name text, ssn text);
       INSERT INTO public.employees VALUES (1, 'Pub', 'pub-000');
       CREATE FUNCTION public.go_hr() RETURNS text LANGUAGE sql
         AS $$ SELECT pg_catalog.set_config('search_path', 'hr', false) $$;
       CREATE FUNCTION public.lower(int) RETURNS text LANGUAGE sql
         AS $$ SELECT pg_catalog.set_config('search_path', 'hr', false) $$;
       CREATE VIEW public.v_go_hr AS SELECT public.go_hr() AS x;
       CREATE ROLE hr NOLOGIN;
       CREATE ROLE hr_agent LOGIN PASSWORD '${HR_PASSWORD}';
       GRANT USAGE ON SCHEMA hr TO hr, hr_agent;
       GRANT SELECT ON hr.employees, public.employees TO hr, hr_agent;
       ALTER ROLE hr_agent SET search_path = hr, public;`,
    );
    admin = (await fx.gate.credential({ target: "app", access: "admin" })).token;
  });
  afterAll(async () => fx?.close());

  const UPPER = "SELECT upper(ssn) AS s FROM employees";

  async function upperSsn(client: pg.Client): Promise<string> {
    return (await client.query(UPPER)).rows[0].s;
  }

  async function session(
    check: (client: pg.Client) => Promise<void>,
    options: Partial<pg.ClientConfig> = {},
  ): Promise<void> {
    const client = await fx.connect({ password: admin, ...options });
    try {
      await check(client);
    } finally {
      await client.end();
    }
  }

  it("SET search_path: an expression over hr.employees.ssn is masked, and public.employees is not", () =>
    session(async (client) => {
      expect(await upperSsn(client)).toBe("PUB-000");
      const set = await client.query("SET search_path TO hr");
      expect([set.command, set.rows]).toEqual(["SET", []]);
      expect(await upperSsn(client)).toBe(REDACTED);
      expect((await client.query("SHOW search_path")).rows).toEqual([{ search_path: "hr" }]);
      await client.query("SET SCHEMA 'public'");
      expect(await upperSsn(client)).toBe("PUB-000");
      await client.query('SET search_path = "$user", pg_catalog, hr');
      expect(await upperSsn(client)).toBe(REDACTED);
    }));

  it("a text that changes the path itself resolves no names: its rows are masked", () =>
    session(async (client) => {
      const results = (await client.query(`SET search_path TO hr; ${UPPER}`)) as unknown as pg.QueryResult[];
      expect(results[1]?.rows).toEqual([{ s: REDACTED }]);
      expect(await upperSsn(client)).toBe(REDACTED);
      // set_config over a relation it cannot resolve yet could carry a masked column out of band.
      await expect(
        client.query(
          `SET search_path TO hr; SELECT set_config('application_name', ssn, false) FROM employees`,
        ),
      ).rejects.toMatchObject({ code: "42501" });
    }));

  it("SET LOCAL lasts until COMMIT, SET until ROLLBACK; a committed SET stays", () =>
    session(async (client) => {
      await client.query("BEGIN");
      await client.query("SET LOCAL search_path TO hr");
      expect(await upperSsn(client)).toBe(REDACTED);
      await client.query("COMMIT");
      expect(await upperSsn(client)).toBe("PUB-000");

      await client.query("BEGIN");
      await client.query("SET search_path TO hr");
      expect(await upperSsn(client)).toBe(REDACTED);
      await client.query("ROLLBACK");
      expect(await upperSsn(client)).toBe("PUB-000");

      await client.query("BEGIN");
      await client.query("SAVEPOINT a");
      await client.query("SET search_path TO hr");
      await client.query("ROLLBACK TO a");
      expect(await upperSsn(client)).toBe("PUB-000");
      await client.query("SET search_path TO hr");
      await client.query("COMMIT");
      expect(await upperSsn(client)).toBe(REDACTED);
    }));

  it("a failed transaction block defers the re-read until it ends; an implicit transaction's error undoes the SET", () =>
    session(async (client) => {
      await client.query("SET search_path TO hr");
      await client.query("BEGIN");
      await expect(client.query("SET search_path TO public; SELECT 1/0")).rejects.toMatchObject({
        code: "22012",
      });
      // Only the agent's own error: nothing of Sluice's deferred probe shows.
      await expect(client.query(UPPER)).rejects.toMatchObject({ code: "25P02" });
      await client.query("ROLLBACK");
      expect(await upperSsn(client)).toBe(REDACTED);

      await expect(client.query("SET search_path TO public; SELECT 1/0")).rejects.toMatchObject({
        code: "22012",
      });
      expect((await client.query("SHOW search_path")).rows).toEqual([{ search_path: "hr" }]);
      expect(await upperSsn(client)).toBe(REDACTED);
    }));

  it('set_config, a function that calls it, and SET ROLE (which moves "$user") are followed', () =>
    session(async (client) => {
      await client.query("SELECT set_config('search_path', 'hr', false)");
      expect(await upperSsn(client)).toBe(REDACTED);
      await client.query("SELECT pg_catalog.set_config('search_path', 'public', false)");
      expect(await upperSsn(client)).toBe("PUB-000");
      await client.query("BEGIN");
      await client.query("SELECT set_config('search_path', 'hr', true)");
      expect(await upperSsn(client)).toBe(REDACTED);
      await client.query("COMMIT");
      expect(await upperSsn(client)).toBe("PUB-000");

      await client.query("SELECT go_hr()");
      expect(await upperSsn(client)).toBe(REDACTED);
      await client.query("RESET search_path");
      expect(await upperSsn(client)).toBe("PUB-000");

      await client.query("SET ROLE hr"); // "$user", public → hr, public
      expect(await upperSsn(client)).toBe(REDACTED);
      await client.query("RESET ROLE");
      expect(await upperSsn(client)).toBe("PUB-000");
    }));

  it("user code that changes the path is seen: an overload of a built-in's name, a view's function, a function earlier in the same text", () =>
    session(async (client) => {
      await client.query("SELECT lower(1)"); // public.lower(int), not pg_catalog.lower(text)
      expect(await upperSsn(client)).toBe(REDACTED);
      await client.query("RESET search_path");
      expect(await upperSsn(client)).toBe("PUB-000");

      await client.query("SELECT x FROM v_go_hr");
      expect(await upperSsn(client)).toBe(REDACTED);
      await client.query("RESET search_path");

      const results = (await client.query(`SELECT go_hr(); ${UPPER}`)) as unknown as pg.QueryResult[];
      expect(results[1]?.rows).toEqual([{ s: REDACTED }]);
      expect(await upperSsn(client)).toBe(REDACTED);
    }));

  it("the role's own default (ALTER ROLE … SET search_path) is read at login; RESET and DISCARD ALL return to it", async () => {
    const { token } = await fx.gate.credential({ target: "app-hr", access: "admin" });
    await session(
      async (client) => {
        expect(await upperSsn(client)).toBe(REDACTED);
        await client.query("SET search_path TO public");
        expect(await upperSsn(client)).toBe("PUB-000");
        await client.query("RESET search_path");
        expect(await upperSsn(client)).toBe(REDACTED);
        await client.query("SET search_path TO public");
        await client.query("DISCARD ALL");
        expect(await upperSsn(client)).toBe(REDACTED);
        await client.query("SET search_path TO public");
        await client.query("RESET ALL");
        expect(await upperSsn(client)).toBe(REDACTED);
      },
      { database: "app-hr", password: token },
    );
  });

  it("node-postgres prepared statements resolve with the path at each execution", () =>
    session(async (client) => {
      const prepared = { name: "upper_ssn", text: UPPER };
      expect((await client.query(prepared)).rows).toEqual([{ s: "PUB-000" }]);
      await client.query({
        name: "set_hr",
        text: "SELECT set_config('search_path', $1, false) AS p",
        values: ["hr"],
      });
      expect((await client.query(prepared)).rows).toEqual([{ s: REDACTED }]);
      await client.query({ text: "SET search_path TO public" });
      expect((await client.query(prepared)).rows).toEqual([{ s: "PUB-000" }]);
      await client.query({
        name: "set_hr",
        text: "SELECT set_config('search_path', $1, false) AS p",
        values: ["hr"],
      });
      const unnamed = await client.query({
        text: "SELECT upper(ssn) AS s FROM employees WHERE id = $1",
        values: [1],
      });
      expect(unnamed.rows).toEqual([{ s: REDACTED }]);
    }));

  it("the upstream is asked only at login and after a statement that may change the path", () =>
    session(async (client) => {
      await client.query("SET log_statement = 'all'"); // this session's statements go to the server log
      const log = join(dirname(fx.db.dataDir), "postgres.log");
      const start = readFileSync(log, "utf8").length;
      const probes = () =>
        readFileSync(log, "utf8").slice(start).split("execute sluice_search_path").length - 1;
      for (let i = 0; i < 10; i++) {
        await client.query(UPPER);
        await client.query({ name: "by_id", text: "SELECT name FROM employees WHERE id = $1", values: [i] });
        await client.query("BEGIN");
        await client.query("SELECT count(*), now() FROM employees");
        await client.query("COMMIT");
      }
      expect(probes()).toBe(0);
      await client.query("SET search_path TO hr");
      expect(await upperSsn(client)).toBe(REDACTED);
      expect(await upperSsn(client)).toBe(REDACTED);
      expect(probes()).toBe(1);
    }));

  it("psql: output is the same as directly against PostgreSQL, and the masked value never shows", async () => {
    const script = [
      "SET search_path TO hr;",
      "SELECT id, name FROM employees;",
      "SHOW search_path;",
      "BEGIN;",
      "SET LOCAL search_path TO public;",
      "SELECT id, name FROM employees;",
      "COMMIT;",
      "SELECT id, name FROM employees;",
      "RESET search_path;",
      "SELECT name FROM employees;",
    ].join("\n");
    const proxied = await fx.psql([], script);
    expect(proxied.code, proxied.stderr).toBe(0);
    const direct = await runPsqlFile(fx.db.url, script);
    expect(direct).toContain("Ann");
    expect(proxied.stdout).toBe(direct);

    const masked = await fx.psql(["-c", "SET search_path TO hr", "-c", UPPER]);
    expect(masked.code, masked.stderr).toBe(0);
    expect(masked.stdout).toContain(REDACTED);
    expect(masked.stdout).not.toContain(SECRET);
  });

  it("pipelined messages keep their order, nothing of the probe reaches the client, and a batch that changes the path masks what follows it", async () => {
    const { socket, frames } = await rawSession(admin);
    const select = up.query(UPPER);
    socket.write(
      Buffer.concat([
        up.query("SET search_path TO hr"),
        select,
        up.parse("", "SET search_path TO public"),
        up.bind({ portal: "", statement: "", paramFormats: [], params: [], resultFormats: [] }),
        up.execute(""),
        up.parse("", UPPER),
        up.bind({ portal: "", statement: "", paramFormats: [], params: [], resultFormats: [] }),
        up.describe("P", ""),
        up.execute(""),
        up.sync(),
        select,
        up.terminate(),
      ]),
    );
    const answer = await frames;
    const codes = answer.map((f) => String.fromCharCode(f.code)).join("");
    expect(codes).toBe(["CZ", "TDCZ", "12C12TDCZ", "TDCZ"].join(""));
    const values = answer
      .filter((f) => f.code === B.DataRow)
      .map((f) => decodeDataRow(f.raw)[0]?.toString("utf8"));
    // Mid-batch the path cannot be re-read: the second SELECT resolves nothing and is masked.
    expect(values).toEqual([REDACTED, REDACTED, "PUB-000"]);
  });

  /** Signs in on a raw socket; `frames` resolves with every frame after login, up to the server closing. */
  async function rawSession(token: string): Promise<{ socket: Socket; frames: Promise<BackendFrame[]> }> {
    const socket = connect(fx.proxy.port, "127.0.0.1");
    const framer = new BackendFramer();
    const all: BackendFrame[] = [];
    let loggedIn: () => void;
    const ready = new Promise<void>((resolve) => {
      loggedIn = resolve;
    });
    let afterLogin = false;
    const frames = new Promise<BackendFrame[]>((resolve, reject) => {
      socket.on("data", (chunk: Buffer) => {
        for (const frame of framer.push(chunk)) {
          if (afterLogin) all.push(frame);
          else if (frame.code === B.ReadyForQuery) {
            afterLogin = true;
            loggedIn();
          } else if (frame.code === B.Authentication && frame.raw.readInt32BE(5) === 3)
            socket.write(up.passwordMessage(token));
        }
      });
      socket.on("close", () => resolve(all));
      socket.on("error", reject);
    });
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(up.startupMessage({ user: "agent", database: "app" }));
    await ready;
    return { socket, frames };
  }
});

async function runPsqlFile(url: string, script: string): Promise<string> {
  const child = exec("psql", [url, "-X", "-v", "ON_ERROR_STOP=1"]);
  child.child.stdin?.end(script);
  return (await child).stdout;
}
