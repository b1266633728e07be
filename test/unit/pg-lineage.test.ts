import { beforeAll, describe, expect, it } from "vitest";
import { searchPathSchemas } from "../../src/proxy/postgres/catalog.ts";
import {
  alignLineage,
  type CatalogLookup,
  type ColumnLineage,
  initLineage,
  lineageOf,
  lineageOfStatements,
  maskPlanFor,
  namesNeeded,
  type RelationInfo,
  relationsNeeded,
} from "../../src/proxy/postgres/lineage/index.ts";
import { corpusProfile, STATIC_RELATIONS, staticCatalog } from "./pg-evasion-corpus.ts";

const U = (c: string) => `public.users.${c}`;
const O = (c: string) => `public.orders.${c}`;
const USERS = ["id", "email", "ssn", "name", "api_key"].map(U);

const catalog = staticCatalog();

beforeAll(() => initLineage());

/** Lineage reduced to what a test compares: sorted sources, "const", or "?reason" for unknown. */
function shape(sql: string, lookup: CatalogLookup = catalog): Array<string[] | "const" | string> {
  const lineage = lineageOf(sql, lookup);
  if (!lineage) throw new Error(`no lineage for ${sql}`);
  return lineage.map((l) => {
    if (l.kind === "constant") return "const";
    if (l.kind === "unknown") return `?${l.reason}`;
    return [...l.sources].sort();
  });
}

function only(sql: string, lookup?: CatalogLookup): ColumnLineage {
  const lineage = lineageOf(sql, lookup ?? catalog);
  expect(lineage).toHaveLength(1);
  return (lineage as ColumnLineage[])[0] as ColumnLineage;
}

describe("lineage of expressions", () => {
  it("a plain or aliased column is direct; anything computed from it is not", () => {
    expect(only("SELECT email AS contact FROM users")).toEqual({
      kind: "columns",
      sources: [U("email")],
      direct: true,
    });
    for (const sql of [
      "SELECT upper(email) FROM users",
      "SELECT email || '' FROM users",
      "SELECT email::text FROM users",
      "SELECT CAST(email AS varchar) FROM users",
      "SELECT substring(email from 2) FROM users",
    ])
      expect(only(sql), sql).toEqual({ kind: "columns", sources: [U("email")], direct: false });
  });

  it("CASE (conditions too), COALESCE, NULLIF and GREATEST carry every column they mention", () => {
    expect(shape("SELECT CASE WHEN ssn LIKE '1%' THEN name END FROM users")).toEqual([[U("name"), U("ssn")]]);
    expect(shape("SELECT coalesce(email, name), nullif(ssn, ''), greatest(id, 0) FROM users")).toEqual([
      [U("email"), U("name")],
      [U("ssn")],
      [U("id")],
    ]);
  });

  it("aggregates carry their argument; count and literals, parameters and now() carry nothing", () => {
    expect(
      shape("SELECT string_agg(ssn, ','), array_agg(email), json_agg(api_key), min(name) FROM users"),
    ).toEqual([[U("ssn")], [U("email")], [U("api_key")], [U("name")]]);
    expect(shape("SELECT count(*), count(DISTINCT ssn), 1, 'x', $1, now(), current_user FROM users")).toEqual(
      Array(7).fill("const"),
    );
  });

  it("window functions carry their argument, not the window's PARTITION BY or ORDER BY", () => {
    expect(
      shape("SELECT lag(ssn) OVER (PARTITION BY email ORDER BY name), row_number() OVER () FROM users"),
    ).toEqual([[U("ssn")], "const"]);
  });

  it("whole-row references carry every column of the row", () => {
    for (const sql of [
      "SELECT row_to_json(u) FROM users u",
      "SELECT to_jsonb(u.*) FROM users u",
      "SELECT u FROM users u",
      "SELECT users FROM users",
      "SELECT json_agg(u ORDER BY id) FROM users u",
    ])
      expect(shape(sql), sql).toEqual([[...USERS].sort()]);
  });

  it("(u).col is exactly that column; (u).* and u.* expand in order", () => {
    expect(only("SELECT (u).ssn FROM users u")).toEqual({
      kind: "columns",
      sources: [U("ssn")],
      direct: true,
    });
    expect(shape("SELECT (u).* FROM users u")).toEqual(USERS.map((s) => [s]));
    expect(shape("SELECT u.*, 1 FROM users u")).toEqual([...USERS.map((s) => [s]), "const"]);
  });

  it("JSON builders, ROW and ARRAY constructors carry their elements", () => {
    expect(
      shape("SELECT json_build_object('e', email, 'n', name), ROW(id, ssn), ARRAY[api_key] FROM users"),
    ).toEqual([[U("email"), U("name")], [U("id"), U("ssn")], [U("api_key")]]);
  });

  it("subqueries in the select list: scalar and ARRAY carry their output, EXISTS nothing", () => {
    expect(only("SELECT (SELECT ssn FROM users LIMIT 1)")).toEqual({
      kind: "columns",
      sources: [U("ssn")],
      direct: true,
    });
    expect(shape("SELECT ARRAY(SELECT email FROM users), EXISTS (SELECT ssn FROM users)")).toEqual([
      [U("email")],
      "const",
    ]);
    expect(shape("SELECT id IN (SELECT user_id FROM orders) FROM users")).toEqual([[O("user_id"), U("id")]]);
  });

  it("correlated subqueries see the outer query's columns", () => {
    expect(
      shape("SELECT (SELECT max(o.total) FROM orders o WHERE o.user_id = u.id) || u.ssn FROM users u"),
    ).toEqual([[O("total"), U("ssn")]]);
  });

  it("a function that is not built in is unknown, keeping its arguments' columns; so are data-reading built-ins", () => {
    const udf = only("SELECT lookup_ssn(id) FROM users");
    expect(udf).toMatchObject({ kind: "unknown", sources: [U("id")], opaque: true });
    expect(udf.kind === "unknown" && [...udf.reach].sort()).toEqual([...USERS].sort());
    expect(only("SELECT query_to_xml('select 1', true, false, '')")).toMatchObject({
      kind: "unknown",
      opaque: true,
    });
    expect(only("SELECT public.upper(email) FROM users")).toMatchObject({
      kind: "unknown",
      sources: [U("email")],
    });
  });

  it("without functionKind, a list of common built-ins is used and the rest is opaque", () => {
    const bare: CatalogLookup = { relation: catalog.relation };
    expect(only("SELECT upper(email) FROM users", bare)).toMatchObject({
      kind: "columns",
      sources: [U("email")],
    });
    expect(only("SELECT my_func(email) FROM users", bare)).toMatchObject({ kind: "unknown", opaque: true });
  });
});

describe("lineage of FROM, joins and statements", () => {
  it("* across joins follows PostgreSQL's order, merging USING and NATURAL columns", () => {
    const ordersCols = ["id", "user_id", "total", "card_number"].map(O);
    expect(shape("SELECT * FROM users u JOIN orders o ON o.user_id = u.id")).toEqual(
      [...USERS, ...ordersCols].map((s) => [s]),
    );
    const merged = [
      [O("id"), U("id")],
      ...USERS.slice(1).map((s) => [s]),
      ...ordersCols.slice(1).map((s) => [s]),
    ];
    expect(shape("SELECT * FROM users JOIN orders USING (id)")).toEqual(merged);
    expect(shape("SELECT * FROM users NATURAL JOIN orders")).toEqual(merged);
    expect(shape("SELECT id, o.id FROM users u FULL JOIN orders o USING (id)")).toEqual([
      [O("id"), U("id")],
      [O("id")],
    ]);
  });

  it("FROM subqueries, their column aliases and LATERAL", () => {
    expect(shape("SELECT b FROM (SELECT ssn, email FROM users) AS s(a, b)")).toEqual([[U("email")]]);
    expect(shape("SELECT l.x FROM users u, LATERAL (SELECT u.api_key AS x) l")).toEqual([[U("api_key")]]);
    expect(shape("SELECT v.a FROM (VALUES (1, 'x')) AS v(a, b)")).toEqual(["const"]);
  });

  it("CTEs, including column alias lists and recursive ones", () => {
    expect(shape("WITH t(a, b) AS (SELECT id, email FROM users) SELECT b, a FROM t")).toEqual([
      [U("email")],
      [U("id")],
    ]);
    expect(shape("WITH a AS (SELECT ssn FROM users), b AS (SELECT ssn AS s FROM a) SELECT s FROM b")).toEqual(
      [[U("ssn")]],
    );
    expect(
      shape(
        "WITH RECURSIVE r(n, s) AS (SELECT 1, ''::text UNION ALL SELECT n + 1, s || (SELECT ssn FROM users WHERE id = n) FROM r WHERE n < 3) SELECT n, s FROM r",
      ),
    ).toEqual(["const", [U("ssn")]]);
  });

  it("a CTE shadows a table of the same name", () => {
    expect(shape("WITH users AS (SELECT 1 AS email) SELECT email FROM users")).toEqual(["const"]);
    expect(shape("WITH users AS (SELECT 1 AS email) SELECT email FROM public.users")).toEqual([[U("email")]]);
  });

  it("views expand to their base columns, recursively", () => {
    expect(shape("SELECT * FROM v_users")).toEqual([[U("id")], [U("email")], [U("name")]]);
    expect(shape("SELECT e FROM v_nested")).toEqual([[U("email")]]);
    expect(shape("SELECT contact, card FROM v_contacts")).toEqual([[U("email")], [O("card_number")]]);
    expect(shape("SELECT ssn FROM mv_ssn")).toEqual([[U("ssn")]]);
  });

  it("a view that refers to itself (or a missing definition) is unknown, not a hang", () => {
    const loop: RelationInfo[] = [
      ...STATIC_RELATIONS,
      {
        schema: "public",
        name: "va",
        kind: "view",
        columns: ["x"],
        definition: "SELECT vb.x FROM public.vb",
      },
      {
        schema: "public",
        name: "vb",
        kind: "view",
        columns: ["x"],
        definition: "SELECT va.x FROM public.va",
      },
      { schema: "public", name: "vc", kind: "view", columns: ["x"] },
    ];
    expect(only("SELECT x FROM va", staticCatalog(loop))).toMatchObject({ kind: "unknown", opaque: true });
    expect(only("SELECT x FROM vc", staticCatalog(loop))).toMatchObject({ kind: "unknown", opaque: true });
  });

  it("UNION, INTERSECT and EXCEPT carry either side per position; VALUES per column", () => {
    expect(shape("SELECT name, id FROM users UNION ALL SELECT card_number, 1 FROM orders")).toEqual([
      [O("card_number"), U("name")],
      [U("id")],
    ]);
    expect(shape("VALUES (1, 'a'), (2, (SELECT ssn FROM users LIMIT 1))")).toEqual(["const", [U("ssn")]]);
  });

  it("set-returning functions: in the select list and in FROM, with ORDINALITY and definition lists", () => {
    expect(shape("SELECT unnest(array_agg(ssn)), regexp_split_to_table(email, '@') FROM users")).toEqual([
      [U("ssn")],
      [U("email")],
    ]);
    expect(
      shape("SELECT * FROM users u, regexp_split_to_table(u.email, '@') WITH ORDINALITY AS p(part, n)"),
    ).toEqual([...USERS.map((s) => [s]), [U("email")], "const"]);
    expect(shape("SELECT key, value FROM users u, json_each(row_to_json(u))")).toEqual([
      [...USERS].sort(),
      [...USERS].sort(),
    ]);
    expect(shape("SELECT r.a FROM users u, json_to_record(to_json(u)) AS r(a text, b int)")).toEqual([
      [...USERS].sort(),
    ]);
    expect(shape("SELECT * FROM unnest(ARRAY[1], (SELECT array_agg(ssn) FROM users)) AS t(a, b)")).toEqual([
      "const",
      [U("ssn")],
    ]);
  });

  it("a function in FROM whose columns are unknown is a spread, aligned to the result width", () => {
    const lineage = lineageOf("SELECT u.id, f.* FROM users u, all_keys() f", catalog) as ColumnLineage[];
    expect(lineage).toHaveLength(2);
    expect(lineage[1]).toMatchObject({ kind: "unknown", spread: true, opaque: true });
    const aligned = alignLineage(lineage, 4);
    expect(aligned.map((l) => l.kind)).toEqual(["columns", "unknown", "unknown", "unknown"]);
    // A name an inner spread might hold is not taken for the outer column of that name alone.
    expect(only("SELECT (SELECT ssn FROM all_keys() f) FROM users")).toMatchObject({
      kind: "unknown",
      sources: [U("ssn")],
      opaque: true,
    });
  });

  it("GROUPING SETS, ORDER BY, WHERE and DISTINCT ON do not add lineage", () => {
    expect(
      shape(
        "SELECT DISTINCT ON (email) name, GROUPING(name) FROM users WHERE ssn = '1' GROUP BY GROUPING SETS ((name), (email)) ORDER BY email",
      ),
    ).toEqual([[U("name")], "const"]);
  });

  it("RETURNING of INSERT, UPDATE and DELETE: the row's columns plus what was put in them", () => {
    expect(shape("DELETE FROM users WHERE id = 1 RETURNING ssn")).toEqual([[U("ssn")]]);
    expect(
      shape(
        "UPDATE users u SET name = o.card_number FROM orders o WHERE o.user_id = u.id RETURNING u.name, o.total",
      ),
    ).toEqual([[O("card_number"), U("name")], [O("total")]]);
    expect(
      shape("UPDATE users SET (name, id) = (SELECT ssn, 1 FROM users LIMIT 1) RETURNING name, id"),
    ).toEqual([[U("name"), U("ssn")], [U("id")]]);
    expect(
      shape("INSERT INTO orders (id, card_number) SELECT id, ssn FROM users RETURNING card_number, total"),
    ).toEqual([[O("card_number"), U("ssn")], [O("total")]]);
    expect(
      shape(
        "INSERT INTO users AS t (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET name = excluded.name || t.ssn RETURNING name",
      ),
    ).toEqual([[U("name"), U("ssn")]]);
    expect(lineageOf("INSERT INTO users (id) VALUES (1)", catalog)).toBeNull();
  });

  it("TABLE, COPY … TO STDOUT (table, listed columns, query); no rows for COPY FROM, SELECT INTO, DDL", () => {
    expect(shape("TABLE users")).toEqual(USERS.map((s) => [s]));
    expect(shape("COPY users (ssn, id) TO STDOUT")).toEqual([[U("ssn")], [U("id")]]);
    expect(shape("COPY (SELECT upper(email) FROM users) TO STDOUT WITH (FORMAT csv)")).toEqual([
      [U("email")],
    ]);
    expect(shape("COPY v_users TO STDOUT")).toEqual([[U("id")], [U("email")], [U("name")]]);
    for (const sql of [
      "COPY users FROM STDIN",
      "COPY users TO '/tmp/x'",
      "SELECT ssn INTO leak FROM users",
      "CREATE TABLE t AS SELECT ssn FROM users",
      "DECLARE c CURSOR FOR SELECT ssn FROM users",
      "SET search_path = public",
    ])
      expect(lineageOf(sql, catalog), sql).toBeNull();
  });

  it("EXPLAIN and SHOW carry nothing; FETCH, EXECUTE and CALL are opaque", () => {
    expect(shape("EXPLAIN (ANALYZE, VERBOSE) SELECT ssn FROM users")).toEqual(["const"]);
    expect(only("SHOW search_path")).toMatchObject({ kind: "constant", spread: true });
    for (const sql of ["FETCH ALL FROM c", "EXECUTE q(1)", "CALL p()"])
      expect(only(sql), sql).toMatchObject({ kind: "unknown", opaque: true, spread: true });
    expect(lineageOf("MOVE NEXT FROM c", catalog)).toBeNull();
  });

  it("a relation missing from the catalog is unknown and opaque; a temp-shadowed name too", () => {
    expect(only("SELECT x FROM nowhere")).toMatchObject({ kind: "unknown", opaque: true });
    const shadowed = staticCatalog([{ ...(STATIC_RELATIONS[0] as RelationInfo), shadowed: true }]);
    expect(only("SELECT id FROM users", shadowed)).toMatchObject({ kind: "unknown", opaque: true });
  });

  it("multi-statement texts give one entry per statement; lineageOf takes the last that returns rows", () => {
    const all = lineageOfStatements(
      "BEGIN; SELECT ssn FROM users; UPDATE users SET name = 'x'; SELECT 1; COMMIT",
      catalog,
    );
    expect(all.map((s) => s?.length ?? null)).toEqual([null, 1, null, 1, null]);
    expect(lineageOf("SELECT ssn FROM users; SELECT 1; COMMIT", catalog)).toEqual([{ kind: "constant" }]);
    expect(lineageOfStatements("SELEC nonsense", catalog)).toEqual([]);
    expect(lineageOf("", catalog)).toBeNull();
  });

  it("is cached per cacheKey, and not when the catalog missed a name", () => {
    let asked = 0;
    const counting: CatalogLookup = {
      cacheKey: "gen-1",
      relation: (schema, name) => {
        asked++;
        return catalog.relation(schema, name);
      },
      functionKind: catalog.functionKind,
    };
    const first = lineageOf("SELECT ssn FROM users /* cache */", counting);
    const second = lineageOf("SELECT ssn FROM users /* cache */", counting);
    expect(second).toBe(first);
    expect(asked).toBe(1);
    lineageOf("SELECT ssn FROM missing_table /* cache */", counting);
    lineageOf("SELECT ssn FROM missing_table /* cache */", counting);
    expect(asked).toBe(3);
  });
});

describe("names a statement needs", () => {
  it("lists relations and functions, and follows known views' definitions", () => {
    expect(relationsNeeded("SELECT * FROM users u JOIN billing.payments p ON true, v_nested")).toEqual([
      { schema: null, name: "users" },
      { schema: "billing", name: "payments" },
      { schema: null, name: "v_nested" },
    ]);
    const withViews = namesNeeded("SELECT upper(e) FROM v_nested", catalog);
    expect(withViews.relations).toContainEqual({ schema: "public", name: "v_users" });
    expect(withViews.relations).toContainEqual({ schema: "public", name: "users" });
    expect(withViews.functions).toEqual([{ schema: null, name: "upper" }]);
  });
});

describe("mask plans", () => {
  const profile = corpusProfile();
  const rules = (column: string) => profile.columnStrategy(column);

  it("masks by origin, by lineage source, and leaves the rest", () => {
    const lineage = lineageOf("SELECT id, upper(ssn), name FROM users", catalog);
    const plan = maskPlanFor(lineage, rules, "mask", {
      origins: ["public.users.id", undefined, "public.users.email"],
    });
    expect(plan).toMatchObject({
      action: "mask",
      masked: 2,
      columns: [null, { column: U("ssn"), by: "lineage" }, { column: U("email"), by: "origin" }],
    });
  });

  it("unknown lineage in a statement that reaches a masked column: masked, or denied by policy", () => {
    const lineage = lineageOf("SELECT lookup_ssn(id) FROM users", catalog);
    expect(maskPlanFor(lineage, rules, "mask")).toMatchObject({ columns: [{ by: "unknown-lineage" }] });
    const denied = maskPlanFor(lineage, rules, "deny");
    expect(denied).toMatchObject({ action: "deny", column: 0 });
    expect(denied.action === "deny" && denied.reason).toContain("lookup_ssn");
  });

  it("unknown lineage reaching no masked column: opaque output gets the opaque rule only when given", () => {
    const lineage = lineageOf("SELECT lookup_ssn(1)", catalog);
    expect(maskPlanFor(lineage, rules, "mask")).toMatchObject({ masked: 0 });
    const opaqueRule = rules(U("ssn")) ?? undefined;
    expect(maskPlanFor(lineage, rules, "mask", { opaqueRule })).toMatchObject({
      columns: [{ by: "opaque" }],
    });
    expect(maskPlanFor(lineage, rules, "deny", { opaqueRule })).toMatchObject({ action: "deny" });
    // Unknown lineage without anything opaque and no masked column reached: left alone.
    const plain = [
      { kind: "unknown", reason: "x", sources: [], reach: [O("total")], opaque: false },
    ] as ColumnLineage[];
    expect(maskPlanFor(plain, rules, "deny", { opaqueRule })).toMatchObject({ action: "mask", masked: 0 });
  });

  it("rows where lineage expected none, or a width mismatch, are treated as unknown and opaque", () => {
    const opaqueRule = rules(U("ssn")) ?? undefined;
    expect(maskPlanFor(null, rules, "mask", { origins: [undefined, undefined], opaqueRule })).toMatchObject({
      masked: 2,
    });
    const lineage = lineageOf("SELECT id, name FROM users", catalog);
    expect(
      maskPlanFor(lineage, rules, "mask", { origins: [undefined, undefined, undefined], opaqueRule }),
    ).toMatchObject({
      masked: 3,
    });
  });
});

describe("search_path", () => {
  it("parses schemas, quoted names and $user", () => {
    expect(searchPathSchemas('"$user", public', "agent")).toEqual(["agent", "public"]);
    expect(searchPathSchemas('"$user", public')).toEqual(["public"]);
    expect(searchPathSchemas('Sales, "Mixed ""Case""",pg_catalog')).toEqual([
      "sales",
      'Mixed "Case"',
      "pg_catalog",
    ]);
    expect(searchPathSchemas("")).toEqual([]);
  });
});
