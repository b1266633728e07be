import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PgCatalog } from "../../src/proxy/postgres/catalog.ts";
import { initLineage, lineageOf, maskPlanFor } from "../../src/proxy/postgres/lineage/index.ts";
import { type PostgresServer, startPostgres } from "../support/postgres.ts";
import {
  corpusProfile,
  EVASION_CORPUS,
  SCHEMA_SQL,
  SECRETS,
  SEED_SQL,
  STATIC_RELATIONS,
} from "../unit/pg-evasion-corpus.ts";

let server: PostgresServer;
let client: pg.Client;

beforeAll(async () => {
  await initLineage();
  server = await startPostgres();
  client = new pg.Client({ connectionString: server.url });
  await client.connect();
  for (const sql of [...SCHEMA_SQL, ...SEED_SQL]) await client.query(sql);
});

afterAll(async () => {
  await client?.end();
  await server?.stop();
});

function originRefs(fields: readonly pg.FieldDef[]) {
  return fields.map((f) => ({ tableOid: f.tableID, attnum: f.columnID }));
}

/** COPY … TO STDOUT through node-postgres: a submittable that keeps the CopyData chunks. */
class CopyOut {
  readonly chunks: Buffer[] = [];
  private error: Error | undefined;
  private settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  readonly done = new Promise<void>((resolve, reject) => {
    this.settle = { resolve, reject };
  });
  constructor(readonly text: string) {}
  submit(connection: { query(text: string): void }): void {
    connection.query(this.text);
  }
  handleCopyData(message: { chunk: Buffer }): void {
    this.chunks.push(message.chunk);
  }
  handleCommandComplete(): void {}
  handleError(error: Error): void {
    this.error = error;
  }
  handleReadyForQuery(): void {
    if (this.error) this.settle?.reject(this.error);
    else this.settle?.resolve();
  }
}

async function copyRows(sql: string): Promise<string[][]> {
  const copy = new CopyOut(sql);
  client.query(copy as unknown as pg.Submittable);
  await copy.done;
  const separator = /format\s*\(?\s*csv/i.test(sql) ? "," : "\t";
  return Buffer.concat(copy.chunks)
    .toString("utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.split(separator));
}

describe("PgCatalog against PostgreSQL 15", () => {
  it("resolves RowDescription origins (table OID + attnum) in one batch, then from cache", async () => {
    const catalog = new PgCatalog({ url: server.url });
    try {
      const result = await client.query(
        "SELECT u.ssn, o.total AS t, 1 AS one, u.ctid, upper(u.email) FROM users u JOIN orders o ON o.user_id = u.id",
      );
      const refs = originRefs(result.fields);
      expect(await catalog.resolveOrigins(refs)).toEqual([
        "public.users.ssn",
        "public.orders.total",
        undefined,
        "public.users.ctid",
        undefined,
      ]);
      const ssn = refs[0] as { tableOid: number; attnum: number };
      expect(catalog.columnOf(ssn.tableOid, ssn.attnum)).toBe("public.users.ssn");
      // A view's columns report the view as their origin: lineage is what sees through it.
      const view = await client.query("SELECT email FROM v_users");
      expect(await catalog.resolveOrigins(originRefs(view.fields))).toEqual(["public.v_users.email"]);
    } finally {
      await catalog.close();
    }
  });

  it("reports relations exactly as the static corpus catalog describes them", async () => {
    const catalog = new PgCatalog({ url: server.url });
    try {
      const lookup = await catalog.relations([
        ...STATIC_RELATIONS.map((r) => ({ schema: r.schema, name: r.name })),
        { schema: null, name: "users" },
        { schema: null, name: "payments" },
      ]);
      for (const expected of STATIC_RELATIONS) {
        const info = lookup.relation(expected.schema, expected.name);
        expect(info, `${expected.schema}.${expected.name}`).toMatchObject(expected);
      }
      expect(lookup.relation(null, "users")?.schema).toBe("public");
      expect(lookup.relation(null, "payments")).toBeUndefined(); // billing is not on the search_path
    } finally {
      await catalog.close();
    }
  });

  it("expands views end to end: nested views, functions in views, another schema", async () => {
    await client.query("CREATE SCHEMA reports");
    await client.query(
      "CREATE VIEW reports.leak AS SELECT c.name, md5(c.contact) AS h, n.e FROM public.v_contacts c, public.v_nested n",
    );
    await client.query("CREATE VIEW reports.deeper AS SELECT h AS hh, name FROM reports.leak");
    const catalog = new PgCatalog({ url: server.url });
    try {
      const sql = "SELECT hh, name FROM reports.deeper";
      const lookup = await catalog.lookupFor(sql);
      expect(lineageOf(sql, lookup)).toEqual([
        { kind: "columns", sources: ["public.users.email"], direct: false },
        { kind: "columns", sources: ["public.users.name"], direct: true },
      ]);
      const viaPath = "SELECT e FROM leak";
      expect(lineageOf(viaPath, await catalog.lookupFor(viaPath, "reports, public"))).toEqual([
        { kind: "columns", sources: ["public.users.email"], direct: true },
      ]);
    } finally {
      await catalog.close();
    }
  });

  it("knows which functions are built in, and that one on the search_path may overload a built-in", async () => {
    await client.query("CREATE SCHEMA shady");
    await client.query(
      "CREATE FUNCTION shady.upper(int) RETURNS text LANGUAGE sql AS 'SELECT ssn FROM public.users LIMIT 1'",
    );
    const catalog = new PgCatalog({ url: server.url });
    try {
      const sql = "SELECT upper(email), lookup_ssn(id) FROM users";
      const plain = await catalog.lookupFor(sql);
      expect(plain.functionKind?.(null, "upper")).toBe("builtin");
      expect(plain.functionKind?.(null, "lookup_ssn")).toBe("user");
      expect(lineageOf(sql, plain)?.map((l) => l.kind)).toEqual(["columns", "unknown"]);
      const shadowed = await catalog.lookupFor(sql, "shady, public");
      expect(shadowed.functionKind?.(null, "upper")).toBe("user");
      expect(lineageOf(sql, shadowed)?.[0]).toMatchObject({ kind: "unknown", opaque: true });
    } finally {
      await catalog.close();
    }
  });

  it("invalidates after ALTER TABLE and DROP + CREATE, and after its TTL", async () => {
    await client.query("CREATE TABLE churn (a int, b text)");
    let now = 0;
    const catalog = new PgCatalog({ url: server.url, ttlMs: 60_000, now: () => now });
    try {
      const sql = "SELECT * FROM churn";
      expect(lineageOf(sql, await catalog.lookupFor(sql))).toHaveLength(2);
      await client.query("ALTER TABLE churn ADD COLUMN secret text");
      // Cached until told: the proxy invalidates after DDL it forwards.
      expect(lineageOf(sql, await catalog.lookupFor(sql))).toHaveLength(2);
      const before = catalog.generation;
      catalog.invalidate();
      expect(catalog.generation).toBe(before + 1);
      expect(lineageOf(sql, await catalog.lookupFor(sql))?.[2]).toEqual({
        kind: "columns",
        sources: ["public.churn.secret"],
        direct: true,
      });

      const first = await client.query("SELECT secret FROM churn");
      expect(await catalog.resolveOrigins(originRefs(first.fields))).toEqual(["public.churn.secret"]);
      await client.query("DROP TABLE churn");
      await client.query("CREATE TABLE churn (secret text, a int)");
      catalog.invalidate();
      const again = await client.query("SELECT secret FROM churn");
      expect(again.fields[0]?.tableID).not.toBe(first.fields[0]?.tableID);
      expect(await catalog.resolveOrigins(originRefs(again.fields))).toEqual(["public.churn.secret"]);
      expect(
        (lineageOf(sql, await catalog.lookupFor(sql)) ?? []).map((l) => l.kind === "columns" && l.sources[0]),
      ).toEqual(["public.churn.secret", "public.churn.a"]);

      // DDL made outside the gateway is picked up once the generation's TTL has passed.
      await client.query("ALTER TABLE churn ADD COLUMN c int");
      expect(lineageOf(sql, await catalog.lookupFor(sql))).toHaveLength(2);
      now += 60_000;
      expect(lineageOf(sql, await catalog.lookupFor(sql))).toHaveLength(3);
    } finally {
      await catalog.close();
    }
  });

  it("treats a name a temporary table may shadow as unknown", async () => {
    const other = new pg.Client({ connectionString: server.url });
    await other.connect();
    const catalog = new PgCatalog({ url: server.url });
    try {
      await other.query("CREATE TEMP TABLE orders AS SELECT ssn AS id, id AS user_id FROM public.users");
      const sql = "SELECT id FROM orders";
      expect(lineageOf(sql, await catalog.lookupFor(sql))?.[0]).toMatchObject({
        kind: "unknown",
        opaque: true,
      });
      const qualified = "SELECT id FROM public.orders";
      expect(lineageOf(qualified, await catalog.lookupFor(qualified))?.[0]).toMatchObject({
        kind: "columns",
      });
    } finally {
      await other.end();
      await catalog.close();
    }
  });

  it("fails closed with a clear error when the metadata connection cannot be made", async () => {
    const catalog = new PgCatalog({ url: server.connectionString("no_such_database") });
    await expect(catalog.lookupFor("SELECT 1 FROM users")).rejects.toThrow(/catalog could not be read/);
    await catalog.close();
  });
});

describe("the evasion corpus run on PostgreSQL with seeded secrets", () => {
  const profile = corpusProfile();
  const rules = (column: string) => profile.columnStrategy(column);
  const opaqueRule = profile.columnStrategy("public.users.ssn") ?? undefined;
  let catalog: PgCatalog;

  beforeAll(() => {
    catalog = new PgCatalog({ url: server.url });
  });
  afterAll(() => catalog?.close());

  it.each(EVASION_CORPUS.map((c) => [c.sql, c] as const))("%s", async (_sql, c) => {
    const lookup = await catalog.lookupFor(c.sql);
    const lineage = lineageOf(c.sql, lookup);
    let rows: unknown[][];
    let origins: Array<string | undefined> | undefined;
    if (c.writes) await client.query("BEGIN");
    try {
      if (c.copy) rows = await copyRows(c.sql);
      else {
        const result = await client.query({ text: c.sql, rowMode: "array" });
        rows = result.rows;
        origins = await catalog.resolveOrigins(originRefs(result.fields));
      }
    } finally {
      if (c.writes) await client.query("ROLLBACK");
    }
    const width = origins?.length ?? rows[0]?.length ?? lineage?.length ?? 0;
    const plan = maskPlanFor(lineage, rules, "mask", {
      origins: origins ?? Array(width).fill(undefined),
      opaqueRule,
    });
    if (plan.action !== "mask") throw new Error(`unexpected plan ${JSON.stringify(plan)}`);
    const masked = plan.columns.flatMap((m, i) => (m ? [i] : []));
    expect(rows.length, "the query returns rows").toBeGreaterThan(0);
    for (const row of rows)
      row.forEach((value, i) => {
        const text = (typeof value === "string" ? value : (JSON.stringify(value) ?? "")).toLowerCase();
        const leaked = SECRETS.find((secret) => text.includes(secret.toLowerCase()));
        if (leaked) expect(masked, `column ${i} carries ${leaked}`).toContain(i);
      });
    for (const i of c.masked) expect(masked).toContain(i);
    for (const i of c.clean ?? []) expect(masked).not.toContain(i);
  });
});
