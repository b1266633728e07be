/**
 * Masking evasion corpus for the PostgreSQL proxy: queries that try to carry a masked column
 * out through aliases, functions, casts, JSON, whole rows, views, CTEs, set operations,
 * subqueries, RETURNING, COPY and opaque functions. Each names the result columns that must
 * be masked (and some that must not). Used by the lineage unit test (static catalog) and by
 * the catalog integration test (the same schema on a real PostgreSQL, run for real).
 */
import { policyDocument } from "../../src/domain/policy/document.ts";
import { type CompiledProfile, compileProfile } from "../../src/gate/masking/profile.ts";
import { BUILTIN_NAMES } from "../../src/proxy/postgres/lineage/functions.ts";
import type { CatalogLookup, RelationInfo } from "../../src/proxy/postgres/lineage/index.ts";

export interface EvasionCase {
  sql: string;
  /** Result columns (0-based) that must be masked. */
  masked: number[];
  /** Result columns that must be left alone. */
  clean?: number[];
  /** Changes data: run inside a transaction that is rolled back. */
  writes?: boolean;
  /** COPY … TO STDOUT: rows arrive as CopyData. */
  copy?: boolean;
}

/** Masked columns of the profile the corpus is written against. */
export const MASKED_COLUMNS = [
  "*.users.email",
  "*.users.ssn",
  "*.users.api_key",
  "*.orders.card_number",
  "billing.payments.iban",
];

export const SCHEMA_SQL = [
  "CREATE TABLE users (id int PRIMARY KEY, email text, ssn text, name text, api_key text)",
  "CREATE TABLE orders (id int PRIMARY KEY, user_id int, total numeric, card_number text)",
  "CREATE SCHEMA billing",
  "CREATE TABLE billing.payments (id int, order_id int, iban text)",
  "CREATE VIEW v_users AS SELECT id, email, name FROM users",
  "CREATE VIEW v_contacts AS SELECT u.name, lower(u.email) AS contact, o.card_number AS card FROM users u JOIN orders o ON o.user_id = u.id",
  "CREATE VIEW v_nested AS SELECT id, email AS e FROM v_users",
  "CREATE MATERIALIZED VIEW mv_ssn AS SELECT id, ssn FROM users",
  "CREATE FUNCTION lookup_ssn(int) RETURNS text LANGUAGE sql STABLE AS 'SELECT ssn FROM users WHERE id = $1'",
  "CREATE FUNCTION all_keys() RETURNS SETOF text LANGUAGE sql STABLE AS 'SELECT api_key FROM users'",
  "CREATE FUNCTION echo(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1'",
];

/** The seeded secret values: none may appear in a result column the plan leaves unmasked. */
export const SECRETS = [
  "alice.secret@example.com",
  "bob.hidden@example.org",
  "987-65-4321",
  "876-54-3210",
  "sk_live_9f8e7d6c5b4aAAAA",
  "sk_live_1a2b3c4d5e6fBBBB",
  "4111111111111111",
  "5500005555555559",
  "DE89370400440532013000",
];

export const SEED_SQL = [
  "INSERT INTO users VALUES (1, 'alice.secret@example.com', '987-65-4321', 'Alice', 'sk_live_9f8e7d6c5b4aAAAA'), (2, 'bob.hidden@example.org', '876-54-3210', 'Bob', 'sk_live_1a2b3c4d5e6fBBBB')",
  "INSERT INTO orders VALUES (1, 1, 10.5, '4111111111111111'), (2, 2, 20, '5500005555555559')",
  "INSERT INTO billing.payments VALUES (1, 1, 'DE89370400440532013000')",
  "REFRESH MATERIALIZED VIEW mv_ssn",
];

/** SCHEMA_SQL as PgCatalog reports it (view definitions as pg_get_viewdef prints them with an empty search_path). */
export const STATIC_RELATIONS: RelationInfo[] = [
  { schema: "public", name: "users", kind: "table", columns: ["id", "email", "ssn", "name", "api_key"] },
  { schema: "public", name: "orders", kind: "table", columns: ["id", "user_id", "total", "card_number"] },
  { schema: "billing", name: "payments", kind: "table", columns: ["id", "order_id", "iban"] },
  {
    schema: "public",
    name: "v_users",
    kind: "view",
    columns: ["id", "email", "name"],
    definition: " SELECT users.id,\n    users.email,\n    users.name\n   FROM public.users;",
  },
  {
    schema: "public",
    name: "v_contacts",
    kind: "view",
    columns: ["name", "contact", "card"],
    definition:
      " SELECT u.name,\n    lower(u.email) AS contact,\n    o.card_number AS card\n   FROM (public.users u\n     JOIN public.orders o ON ((o.user_id = u.id)));",
  },
  {
    schema: "public",
    name: "v_nested",
    kind: "view",
    columns: ["id", "e"],
    definition: " SELECT v_users.id,\n    v_users.email AS e\n   FROM public.v_users;",
  },
  {
    schema: "public",
    name: "mv_ssn",
    kind: "matview",
    columns: ["id", "ssn"],
    definition: " SELECT users.id,\n    users.ssn\n   FROM public.users;",
  },
];

/** Functions of SCHEMA_SQL (not built in: their bodies are invisible to lineage). */
export const USER_FUNCTIONS = ["lookup_ssn", "all_keys", "echo"];

export const EVASION_CORPUS: EvasionCase[] = [
  // plain, aliases, qualification
  { sql: "SELECT email FROM users", masked: [0] },
  { sql: "SELECT id, email AS contact FROM users", masked: [1], clean: [0] },
  { sql: "SELECT users.email FROM public.users", masked: [0] },
  { sql: "SELECT public.users.ssn FROM public.users", masked: [0] },
  { sql: "SELECT x.e FROM (SELECT email FROM users) AS x(e)", masked: [0] },
  { sql: "SELECT ssn FROM users FOR UPDATE", masked: [0] },
  { sql: "SELECT DISTINCT ON (id) email FROM users ORDER BY id", masked: [0] },
  { sql: "SELECT iban FROM billing.payments", masked: [0] },
  { sql: "SELECT b, a FROM users AS u(a, b)", masked: [0], clean: [1] },
  { sql: "SELECT email FROM users TABLESAMPLE SYSTEM (100)", masked: [0] },
  { sql: "SELECT (SELECT ssn), (SELECT u.api_key) FROM users u", masked: [0, 1] },
  { sql: "SELECT (jsonb_populate_record(NULL::users, to_jsonb(u))).ssn FROM users u", masked: [0] },
  {
    sql: "SELECT * FROM users u JOIN LATERAL (SELECT u.*) s ON true",
    masked: [1, 2, 4, 6, 7, 9],
    clean: [0, 3, 5, 8],
  },
  // functions, operators, casts
  { sql: "SELECT upper(email) AS x FROM users", masked: [0] },
  { sql: "SELECT pg_catalog.upper(email) FROM users", masked: [0] },
  { sql: "SELECT email || '' FROM users", masked: [0] },
  { sql: "SELECT substring(ssn from 1 for 11) FROM users", masked: [0] },
  { sql: "SELECT email::varchar FROM users", masked: [0] },
  { sql: "SELECT CAST(ssn AS varchar(20)) FROM users", masked: [0] },
  { sql: 'SELECT ssn COLLATE "C" FROM users', masked: [0] },
  { sql: "SELECT reverse(reverse(ssn)) FROM users", masked: [0] },
  { sql: "SELECT md5(api_key), translate(ssn, '0123456789', 'abcdefghij') FROM users", masked: [0, 1] },
  { sql: "SELECT encode(convert_to(api_key, 'UTF8'), 'base64') FROM users", masked: [0] },
  { sql: "SELECT format('%s', ssn), concat_ws('-', name, email) FROM users", masked: [0, 1] },
  { sql: "SELECT u.ssn IS NOT NULL AND u.ssn LIKE '9%' FROM users u", masked: [0] },
  // CASE, COALESCE, NULLIF, GREATEST
  { sql: "SELECT CASE WHEN id > 0 THEN ssn ELSE 'x' END FROM users", masked: [0] },
  {
    sql: "SELECT CASE WHEN ssn LIKE '9%' THEN 'yes' ELSE 'no' END, name FROM users",
    masked: [0],
    clean: [1],
  },
  { sql: "SELECT coalesce(NULL, api_key) FROM users", masked: [0] },
  { sql: "SELECT nullif(ssn, '') FROM users", masked: [0] },
  { sql: "SELECT greatest(ssn, '0'), least(card_number, 'z') FROM users, orders", masked: [0, 1] },
  // aggregates and windows
  { sql: "SELECT string_agg(ssn, ',') FROM users", masked: [0] },
  { sql: "SELECT array_agg(email), json_agg(api_key) FROM users", masked: [0, 1] },
  { sql: "SELECT jsonb_agg(u) FROM users u", masked: [0] },
  { sql: "SELECT min(card_number), max(card_number), count(*) FROM orders", masked: [0, 1], clean: [2] },
  { sql: "SELECT (array_agg(ssn ORDER BY id))[1] FROM users", masked: [0] },
  {
    sql: "SELECT lag(ssn) OVER (ORDER BY id), first_value(email) OVER w FROM users WINDOW w AS (ORDER BY id)",
    masked: [0, 1],
  },
  {
    sql: "SELECT name, max(api_key) FROM users GROUP BY GROUPING SETS ((name), ())",
    masked: [1],
    clean: [0],
  },
  // whole rows
  { sql: "SELECT row_to_json(u) FROM users u", masked: [0] },
  { sql: "SELECT to_jsonb(u) FROM users u", masked: [0] },
  { sql: "SELECT u FROM users u", masked: [0] },
  { sql: "SELECT (u).* FROM users u", masked: [1, 2, 4], clean: [0, 3] },
  { sql: "SELECT u.* FROM users u", masked: [1, 2, 4], clean: [0, 3] },
  { sql: "SELECT (u).email FROM users u", masked: [0] },
  { sql: "SELECT row(u.*)::text FROM users u", masked: [0] },
  { sql: "SELECT jsonb_path_query(to_jsonb(u), '$.ssn') FROM users u", masked: [0] },
  { sql: "SELECT v.value FROM users u, jsonb_each_text(to_jsonb(u)) v", masked: [0] },
  { sql: "SELECT * FROM json_each((SELECT row_to_json(u) FROM users u LIMIT 1))", masked: [0, 1] },
  // * across joins
  {
    sql: "SELECT * FROM users JOIN orders ON orders.user_id = users.id",
    masked: [1, 2, 4, 8],
    clean: [0, 3, 5, 6, 7],
  },
  { sql: "SELECT * FROM users JOIN orders USING (id)", masked: [1, 2, 4, 7], clean: [3, 5, 6] },
  { sql: "SELECT * FROM users NATURAL JOIN orders", masked: [1, 2, 4, 7], clean: [3, 5, 6] },
  { sql: "SELECT * FROM (users u JOIN orders o ON o.user_id = u.id) AS j", masked: [1, 2, 4, 8] },
  { sql: "SELECT t.* FROM (SELECT * FROM users) t", masked: [1, 2, 4], clean: [0, 3] },
  { sql: "TABLE users", masked: [1, 2, 4], clean: [0, 3] },
  // JSON, rows, arrays, XML
  { sql: "SELECT json_build_object('e', email) FROM users", masked: [0] },
  { sql: "SELECT ROW(id, ssn), ARRAY[name, api_key] FROM users", masked: [0, 1] },
  { sql: "SELECT jsonb_build_array(card_number)->>0 FROM orders", masked: [0] },
  { sql: "SELECT xmlelement(name x, ssn) FROM users", masked: [0] },
  // subqueries
  { sql: "SELECT (SELECT email FROM users ORDER BY id LIMIT 1)", masked: [0] },
  { sql: "SELECT ARRAY(SELECT ssn FROM users)", masked: [0] },
  { sql: "SELECT EXISTS (SELECT 1 FROM users WHERE ssn IS NOT NULL)", masked: [], clean: [0] },
  { sql: "SELECT x FROM (SELECT ssn AS x FROM users) s", masked: [0] },
  {
    sql: "SELECT (SELECT u2.ssn FROM users u2 WHERE u2.id = u.id) AS s, u.id FROM users u",
    masked: [0],
    clean: [1],
  },
  {
    sql: "SELECT (SELECT string_agg(card_number, ';') FROM orders o WHERE o.user_id = u.id) FROM users u",
    masked: [0],
  },
  { sql: "SELECT (SELECT max(total) FROM orders), name FROM users", masked: [], clean: [0, 1] },
  // CTEs
  { sql: "WITH t AS (SELECT api_key AS k FROM users) SELECT k FROM t", masked: [0] },
  { sql: "WITH t(a, b) AS (SELECT id, email FROM users) SELECT b, a FROM t", masked: [0], clean: [1] },
  {
    sql: "WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM users WHERE id = 1 UNION ALL SELECT n + 1, s FROM r WHERE n < 3) SELECT s, n FROM r",
    masked: [0],
    clean: [1],
  },
  {
    sql: "WITH RECURSIVE r(n, s) AS (SELECT 1, ''::text UNION ALL SELECT n + 1, s || (SELECT ssn FROM users WHERE id = n) FROM r WHERE n < 2) SELECT s FROM r",
    masked: [0],
  },
  // views and materialized views
  { sql: "SELECT * FROM v_users", masked: [1], clean: [0, 2] },
  { sql: "SELECT contact, card, name FROM v_contacts", masked: [0, 1], clean: [2] },
  { sql: "SELECT e FROM v_nested", masked: [0] },
  { sql: "SELECT ssn FROM mv_ssn", masked: [0] },
  // set operations, VALUES
  { sql: "SELECT name FROM users UNION SELECT ssn FROM users", masked: [0] },
  { sql: "SELECT id, email FROM users INTERSECT SELECT id, email FROM v_users", masked: [1], clean: [0] },
  { sql: "SELECT name FROM users EXCEPT SELECT card_number FROM orders", masked: [0] },
  { sql: "SELECT * FROM (VALUES ('a'), ((SELECT ssn FROM users LIMIT 1))) v(x)", masked: [0] },
  // LATERAL and set-returning functions
  {
    sql: "SELECT * FROM (VALUES (1)) v(x), LATERAL (SELECT email FROM users WHERE id = v.x) l",
    masked: [1],
    clean: [0],
  },
  { sql: "SELECT * FROM users u, LATERAL (SELECT u.ssn AS copy) c", masked: [1, 2, 4, 5], clean: [0, 3] },
  { sql: "SELECT unnest(array_agg(ssn)) FROM users", masked: [0] },
  { sql: "SELECT regexp_split_to_table(email, '@') FROM users", masked: [0] },
  { sql: "SELECT p FROM users, regexp_split_to_table(email, '@') AS p", masked: [0] },
  { sql: "SELECT w FROM users u CROSS JOIN LATERAL unnest(ARRAY[u.email, u.name]) AS w", masked: [0] },
  {
    sql: "SELECT string_agg(x, '' ORDER BY g) FROM (SELECT substr(ssn, g, 1) AS x, g FROM users, generate_series(1, 11) g WHERE id = 1) s",
    masked: [0],
  },
  {
    sql: "SELECT * FROM ROWS FROM (unnest(ARRAY[1]), regexp_split_to_table('a,b', ',')) AS r(a, b)",
    masked: [],
    clean: [0, 1],
  },
  // RETURNING
  { sql: "UPDATE users SET name = name WHERE id = 1 RETURNING email", masked: [0], writes: true },
  {
    sql: "UPDATE users SET name = ssn WHERE id = 1 RETURNING name, id",
    masked: [0],
    clean: [1],
    writes: true,
  },
  { sql: "DELETE FROM orders WHERE id = 1 RETURNING *", masked: [3], clean: [0, 1, 2], writes: true },
  {
    sql: "INSERT INTO users (id, name) SELECT id + 1000, ssn FROM users RETURNING name",
    masked: [0],
    writes: true,
  },
  {
    sql: "INSERT INTO users (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = users.api_key RETURNING name",
    masked: [0],
    writes: true,
  },
  {
    sql: "WITH d AS (DELETE FROM orders WHERE id = 2 RETURNING card_number) SELECT * FROM d",
    masked: [0],
    writes: true,
  },
  // COPY
  { sql: "COPY (SELECT upper(ssn) FROM users) TO STDOUT", masked: [0], copy: true },
  { sql: "COPY users (id, api_key) TO STDOUT", masked: [1], clean: [0], copy: true },
  { sql: "COPY orders TO STDOUT WITH (FORMAT csv)", masked: [3], clean: [0, 1, 2], copy: true },
  // opaque: functions whose bodies are not visible
  { sql: "SELECT lookup_ssn(id) FROM users", masked: [0] },
  { sql: "SELECT * FROM all_keys()", masked: [0] },
  { sql: "SELECT echo(email) FROM users", masked: [0] },
  { sql: "SELECT query_to_xml('select ssn from users', true, false, '')", masked: [0] },
  // no column data
  { sql: "SELECT count(*), now() IS NOT NULL, 42 FROM users", masked: [], clean: [0, 1, 2] },
  { sql: "SELECT name FROM users WHERE ssn = '987-65-4321'", masked: [], clean: [0] },
  { sql: "EXPLAIN SELECT ssn FROM users", masked: [], clean: [0] },
];

/** The masking profile of MASKED_COLUMNS, compiled as the proxy compiles policy. */
export function corpusProfile(unknownLineage: "mask" | "deny" = "mask"): CompiledProfile {
  const columns = MASKED_COLUMNS.map((column) => ({ column, strategy: "redact" }));
  const doc = policyDocument.parse({ masking: [{ name: "pii", columns, unknownLineage }] });
  return compileProfile(doc.masking[0] as (typeof doc.masking)[number], "salt");
}

/** A CatalogLookup over fixed relations (unqualified names on `"$user", public`) and functions. */
export function staticCatalog(
  relations: readonly RelationInfo[] = STATIC_RELATIONS,
  userFunctions: readonly string[] = USER_FUNCTIONS,
): CatalogLookup {
  return {
    relation: (schema, name) =>
      relations.find(
        (r) => r.name === name && (schema === null ? r.schema === "public" : r.schema === schema),
      ),
    functionKind(schema, name) {
      if (userFunctions.includes(name) && (schema === null || schema === "public")) return "user";
      if (BUILTIN_NAMES.has(name) && (schema === null || schema === "pg_catalog")) return "builtin";
      return undefined;
    },
  };
}
