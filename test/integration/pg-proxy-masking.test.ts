import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/eventstore/port.ts";
import { collect } from "../support/events.ts";
import { type PgProxyFixture, startPgProxyFixture } from "../support/pg-proxy.ts";
import { EVASION_CORPUS, MASKED_COLUMNS, SCHEMA_SQL, SECRETS, SEED_SQL } from "../unit/pg-evasion-corpus.ts";

const REDACTED = "«redacted»";

/**
 * The evasion corpus run for real, through the proxy, against a PostgreSQL seeded with secret
 * values: no seeded secret may reach the client in text or binary results, in COPY output or
 * in the audit log. The profile has column rules only, so content detectors cannot hide a
 * lineage gap; a second target adds detectors for the content layer.
 */
describe("PostgreSQL proxy: masking by origin, lineage and content", () => {
  let fx: PgProxyFixture;
  let text: pg.Client;
  let binary: pg.Client;
  beforeAll(async () => {
    fx = await startPgProxyFixture(
      (db, env) => `
targets:
  - { name: app, protocol: postgres, address: "127.0.0.1:${db.port}", credential: { env: ${env} }, masking: pii }
  - { name: app-content, protocol: postgres, address: "127.0.0.1:${db.port}", credential: { env: ${env} }, masking: content }
access: [{ name: agents, who: { groups: [agents] }, targets: ["app*"], level: admin }]
masking:
  - name: pii
    columns: [${MASKED_COLUMNS.map((c) => `{ column: "${c}", strategy: redact }`).join(", ")}]
  - name: content
    detectors: [{ detector: email, strategy: redact }, { detector: credit_card, strategy: partial }]
`,
      [...SCHEMA_SQL, ...SEED_SQL].join(";\n"),
    );
    // Admin access: the corpus calls user functions and query_to_xml, which need it.
    const { token } = await fx.gate.credential({ target: "app", access: "admin" });
    text = await fx.connect({ password: token });
    binary = await fx.connect({ password: token, binary: true } as Partial<pg.ClientConfig>);
  });
  afterAll(async () => {
    await text?.end();
    await binary?.end();
    await fx?.close();
  });

  const leaks = (value: unknown): string[] => {
    const flat =
      typeof value === "string"
        ? value
        : JSON.stringify(value, (_, v) =>
            typeof v === "bigint" ? String(v) : Buffer.isBuffer(v) ? v.toString("latin1") : v,
          );
    return SECRETS.filter((secret) => flat?.includes(secret));
  };

  async function run(client: pg.Client, sql: string, writes?: boolean): Promise<pg.QueryResult | Error> {
    if (writes) await client.query("BEGIN");
    try {
      return await client.query({ text: sql, rowMode: "array" });
    } catch (error) {
      return error as Error;
    } finally {
      if (writes) await client.query("ROLLBACK");
    }
  }

  const rowCases = EVASION_CORPUS.filter((c) => !c.copy);
  it(`leaks nothing in text results across ${rowCases.length} evasion queries, masking exactly the named columns`, async () => {
    expect(rowCases.length).toBeGreaterThanOrEqual(40);
    for (const c of rowCases) {
      const result = await run(text, c.sql, c.writes);
      if (result instanceof Error) throw new Error(`${c.sql}: ${result.message}`);
      expect(leaks(result.rows), c.sql).toEqual([]);
      for (const row of result.rows as unknown[][]) {
        for (const i of c.masked) {
          const value = row[i];
          expect(value === null || String(value).includes(REDACTED), `${c.sql} column ${i}: ${value}`).toBe(
            true,
          );
        }
        for (const i of c.clean ?? [])
          expect(String(row[i]).includes(REDACTED), `${c.sql} column ${i}`).toBe(false);
      }
    }
  });

  it("leaks nothing in binary-format results", async () => {
    for (const c of rowCases) {
      const result = await run(binary, c.sql, c.writes);
      if (result instanceof Error) continue; // types node-postgres cannot read in binary (e.g. records) fail client-side
      expect(leaks(result.rows), c.sql).toEqual([]);
    }
  });

  const copyCases = EVASION_CORPUS.filter((c) => c.copy);
  it(`leaks nothing in COPY TO STDOUT output (${copyCases.length} queries, text and CSV)`, async () => {
    for (const c of copyCases) {
      const out = await fx.psql(["-c", c.sql]);
      expect(out.code, `${c.sql}: ${out.stderr}`).toBe(0);
      expect(leaks(out.stdout), c.sql).toEqual([]);
      expect(out.stdout, c.sql).toContain(REDACTED);
    }
    const binaryCopy = await fx.psql(["-c", "COPY users TO STDOUT WITH (FORMAT binary)"]);
    expect(binaryCopy.stderr).toContain("only in text and CSV formats");
  });

  it("errors that quote row data are redacted; values the agent typed itself are kept", async () => {
    const cast = await run(text, "SELECT ssn::int FROM users");
    expect(cast).toBeInstanceOf(Error);
    expect((cast as Error).message).toBe(`invalid input syntax for type integer: "${REDACTED}"`);
    const own = await run(text, "SELECT 'abc'::int FROM users");
    expect((own as Error).message).toBe('invalid input syntax for type integer: "abc"');
    const missing = await run(text, "SELECT nosuch FROM users");
    expect((missing as Error).message).toBe('column "nosuch" does not exist');
  });

  it("DDL through the gateway refreshes what the catalog knows", async () => {
    // Unknown to the catalog (cached as missing): its output could be anything, so it is redacted.
    await expect(text.query("SELECT name FROM v_names")).rejects.toMatchObject({ code: "42P01" });
    await text.query("CREATE VIEW v_names AS SELECT id, name FROM users");
    const names = await text.query("SELECT name FROM v_names ORDER BY id");
    expect(names.rows).toEqual([{ name: "Alice" }, { name: "Bob" }]);
    await text.query("CREATE OR REPLACE VIEW v_names AS SELECT id, email AS name FROM users");
    const emails = await text.query("SELECT name FROM v_names ORDER BY id");
    expect(emails.rows).toEqual([{ name: REDACTED }, { name: REDACTED }]);
  });

  it("content detectors mask secrets in columns no rule names", async () => {
    // A credential is for one target: a session on another needs its own, and the gateway says so.
    await expect(fx.connect({ database: "app-content" })).rejects.toMatchObject({ code: "28000" });
    const { token } = await fx.gate.credential({ target: "app-content", access: "admin" });
    const content = await fx.connect({ database: "app-content", password: token });
    const result = await content.query(
      "SELECT 'mail alice.secret@example.com today' AS note, card_number FROM orders ORDER BY id",
    );
    expect(result.rows[0].note).toBe("mail «redacted:email» today");
    expect(result.rows[0].card_number).toMatch(/^\*+1111$/);
    await content.end();
  });

  it("records what was masked — column, rule, count — and never a secret", async () => {
    const events: RecordedEvent[] = await collect(fx.gate.store.readAll());
    // Only the agent's own statement text may hold a secret, where the profile has no detector for it.
    const leaking = events
      .filter((e) => leaks(e).length > 0)
      .map((e) => (e.data as { command?: string }).command);
    expect(leaking).toEqual([
      "SELECT name FROM users WHERE ssn = '987-65-4321'",
      "SELECT name FROM users WHERE ssn = '987-65-4321'",
    ]);
    const recorded = events.map((e) => (e.data as { command?: string }).command);
    expect(recorded).toContain(
      "SELECT 'mail «redacted:email» today' AS note, card_number FROM orders ORDER BY id",
    );
    const masked = events
      .filter((e) => e.type === "CommandCompleted")
      .flatMap((e) => (e.data as { masked: { field: string; rule: string; count: number }[] }).masked);
    expect(masked).toContainEqual({ field: "email", rule: "pii/*.users.email", count: 2 });
  });
});
