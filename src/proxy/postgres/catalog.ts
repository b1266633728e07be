import pg from "pg";
import { SluiceError } from "../../errors.ts";
import { shapeKey } from "../../gate/classify/sql-shape.ts";
import type { Logger } from "../../log.ts";
import {
  DEFAULT_SEARCH_PATH,
  effectivePath,
  searchPathSchemas,
  UNKNOWN_SEARCH_PATH,
} from "./catalog-search-path.ts";
import { type CatalogLookup, namesNeeded, type QualifiedName, type RelationInfo } from "./lineage/index.ts";

/**
 * The target database's catalog, as masking needs it, over one gateway-owned metadata
 * connection: column ORIGINS (RowDescription table OID + attnum → "schema.table.column") and
 * the relations and functions a statement's LINEAGE walks (columns in attnum order, view
 * definitions, which functions are built in).
 *
 * Freshness: everything is cached for one generation. `invalidate()` starts a new one — the
 * proxy calls it after any DDL statement it forwarded completes — and a generation also ends
 * after `ttlMs` (default 60 s), which bounds how long DDL made outside the gateway can go
 * unseen. An event trigger could report that DDL sooner; not done: it would need a superuser
 * to install. Lookups already handed out keep answering from their own generation.
 *
 * Catalog queries run in read-only transactions with an empty search_path (SET LOCAL), so
 * pg_get_viewdef qualifies every name outside pg_catalog (lineage reads view definitions that way).
 */

export interface PgCatalogOptions {
  /** Connection URL of the metadata connection (the gateway's own account on the target). */
  url: string;
  /** How long a generation lives, in ms (default 60 000; 0: until invalidate()). */
  ttlMs?: number;
  /** The agent session's search_path when the caller gives none (default `"$user", public`). */
  searchPath?: string;
  /** The upstream user name `$user` in a search_path stands for. */
  user?: string;
  log?: Logger;
  /** Clock, for tests. */
  now?: () => number;
}

export interface OriginRef {
  tableOid: number;
  attnum: number;
}

interface Generation {
  id: number;
  startedAt: number;
  /** "oid:attnum" → "schema.table.column", null when not found. */
  origins: Map<string, string | null>;
  /** See relationKey; null when not found. */
  relations: Map<string, RelationInfo | null>;
  /** Function name → the schemas that have a function of that name; null when none. */
  functions: Map<string, readonly string[] | null>;
  /** "pathKey\0shapeKey" of statements whose every name is already fetched in this generation. */
  settled: Set<string>;
}

export { DEFAULT_SEARCH_PATH, searchPathSchemas };

const RELKINDS: Record<string, RelationInfo["kind"]> = {
  r: "table",
  p: "table",
  v: "view",
  m: "matview",
  f: "foreign",
};

/** Nested views need one more round each; past this many the rest stay unknown (lineage masks them). */
const MAX_ROUNDS = 8;
/** Bound on the statement shapes remembered as settled per generation. */
const MAX_SETTLED = 10_000;

export class PgCatalog {
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly defaultPath: string;
  private gen: Generation;
  private client: Promise<pg.Client> | undefined;
  private lastPath: { setting: string; path: string[]; pathKey: string } | undefined;

  constructor(private readonly options: PgCatalogOptions) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.defaultPath = options.searchPath ?? DEFAULT_SEARCH_PATH;
    this.gen = this.newGeneration(0);
  }

  get generation(): number {
    this.expire();
    return this.gen.id;
  }

  /** Forgets everything (after DDL); lookups already handed out keep their generation. */
  invalidate(): void {
    this.gen = this.newGeneration(this.gen.id + 1);
  }

  /** A column origin already resolved in this generation (see resolveOrigins), or undefined. */
  columnOf(tableOid: number, attnum: number): string | undefined {
    this.expire();
    return this.gen.origins.get(`${tableOid}:${attnum}`) ?? undefined;
  }

  /** Origins of a RowDescription's fields (tableOid 0 → undefined); one query for all not yet known. */
  async resolveOrigins(refs: readonly OriginRef[]): Promise<Array<string | undefined>> {
    this.expire();
    const gen = this.gen;
    const missing = new Map<string, OriginRef>();
    for (const ref of refs) {
      const key = `${ref.tableOid}:${ref.attnum}`;
      if (ref.tableOid !== 0 && !gen.origins.has(key)) missing.set(key, ref);
    }
    if (missing.size > 0) {
      const wanted = [...missing.values()];
      const rows = await this.query<{ oid: string; att: number; schema: string; rel: string; col: string }>(
        `SELECT p.oid::text AS oid, p.att::int AS att, n.nspname::text AS schema, c.relname::text AS rel,
                a.attname::text AS col
           FROM unnest($1::oid[], $2::int2[]) AS p(oid, att)
           JOIN pg_catalog.pg_class c ON c.oid = p.oid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_catalog.pg_attribute a ON a.attrelid = p.oid AND a.attnum = p.att`,
        [wanted.map((r) => String(r.tableOid)), wanted.map((r) => r.attnum)],
      );
      for (const key of missing.keys()) gen.origins.set(key, null);
      for (const row of rows) gen.origins.set(`${row.oid}:${row.att}`, `${row.schema}.${row.rel}.${row.col}`);
    }
    return refs.map((ref) =>
      ref.tableOid === 0 ? undefined : (gen.origins.get(`${ref.tableOid}:${ref.attnum}`) ?? undefined),
    );
  }

  /** Prefetches relations (and functions) by name as the session would resolve them; one query each. */
  async relations(
    names: readonly QualifiedName[],
    searchPath?: string,
    functions: readonly QualifiedName[] = [],
  ): Promise<CatalogLookup> {
    this.expire();
    const gen = this.gen;
    const { path, pathKey } = this.pathOf(searchPath);
    const relations = names.filter((n) => !gen.relations.has(relationKey(pathKey, n)));
    const fnNames = [...new Set(functions.map((f) => f.name))].filter((name) => !gen.functions.has(name));
    if (relations.length > 0) await this.fetchRelations(gen, relations, path, pathKey);
    if (fnNames.length > 0) await this.fetchFunctions(gen, fnNames);
    return lookupOf(gen, path, pathKey);
  }

  /** Everything lineageOf(sql) will ask, views' definitions followed to their base relations. */
  async lookupFor(sql: string, searchPath?: string): Promise<CatalogLookup> {
    const { pathKey } = this.pathOf(searchPath);
    // Statements of one shape use the same names (literals never name anything): once settled, no walk.
    const settledKey = `${pathKey}\0${shapeKey(sql)}`;
    let lookup = await this.relations([], searchPath);
    if (this.gen.settled.has(settledKey) && lookup.cacheKey?.startsWith(`${this.gen.id}\0`)) return lookup;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const needed = namesNeeded(sql, lookup);
      const gen = this.gen;
      const fresh =
        needed.relations.every((n) => gen.relations.has(relationKey(pathKey, n))) &&
        needed.functions.every((f) => gen.functions.has(f.name));
      if (fresh && lookup.cacheKey?.startsWith(`${gen.id}\0`)) {
        if (gen.settled.size >= MAX_SETTLED) gen.settled.clear();
        gen.settled.add(settledKey);
        return lookup;
      }
      lookup = await this.relations(needed.relations, searchPath, needed.functions);
    }
    return lookup;
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await (await client.catch(() => undefined))?.end().catch(() => {});
  }

  private async fetchRelations(
    gen: Generation,
    names: QualifiedName[],
    path: string[],
    pathKey: string,
  ): Promise<void> {
    const rows = await this.query<{
      i: number;
      oid: string | null;
      schema: string | null;
      name: string | null;
      kind: string | null;
      definition: string | null;
      columns: string[] | null;
      shadowed: boolean;
    }>(
      // Unqualified names resolve along the path (pg_catalog first unless placed); a temporary
      // relation of the same name in any session may shadow them: reported as `shadowed`.
      `SELECT w.i::int AS i, c.oid::text AS oid, n.nspname::text AS schema, c.relname::text AS name,
              c.relkind::text AS kind,
              CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END AS definition,
              ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns,
              (w.sch IS NULL AND EXISTS (
                 SELECT 1 FROM pg_catalog.pg_class t JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
                  WHERE t.relname = w.rel AND tn.nspname LIKE 'pg\\_temp\\_%')) AS shadowed
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(sch, rel, i)
         LEFT JOIN LATERAL (
           SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relname = w.rel AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
              AND CASE WHEN w.sch IS NULL THEN n.nspname = ANY ($3::text[]) ELSE n.nspname = w.sch END
            ORDER BY array_position($3::text[], n.nspname::text) LIMIT 1) r ON true
         LEFT JOIN pg_catalog.pg_class c ON c.oid = r.oid
         LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`,
      [names.map((n) => n.schema), names.map((n) => n.name), path],
    );
    for (const row of rows) {
      const wanted = names[row.i - 1] as QualifiedName;
      let info: RelationInfo | null = null;
      if (row.oid !== null && row.schema !== null && row.name !== null) {
        info = {
          schema: row.schema,
          name: row.name,
          kind: RELKINDS[row.kind ?? ""] ?? "other",
          columns: row.columns ?? [],
        };
        info.oid = Number(row.oid);
        if (row.definition !== null) info.definition = row.definition;
        if (row.shadowed) info.shadowed = true;
      }
      gen.relations.set(relationKey(pathKey, wanted), info);
    }
  }

  private async fetchFunctions(gen: Generation, names: string[]): Promise<void> {
    const rows = await this.query<{ name: string; schemas: string[] }>(
      `SELECT p.proname::text AS name, array_agg(DISTINCT n.nspname::text) AS schemas
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        WHERE p.proname = ANY ($1::text[]) GROUP BY p.proname`,
      [names],
    );
    for (const name of names) gen.functions.set(name, null);
    for (const row of rows) gen.functions.set(row.name, row.schemas);
  }

  private async query<T extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<T[]> {
    let client: pg.Client;
    try {
      client = await this.connect();
      // search_path is set per transaction, not per session: some servers (PGlite's socket
      // server) multiplex connections onto one session, where a session setting would leak.
      await client.query("BEGIN READ ONLY");
      try {
        await client.query("SET LOCAL search_path = ''");
        return (await client.query<T>(text, values)).rows;
      } finally {
        await client.query("COMMIT").catch(() => {});
      }
    } catch (error) {
      // A broken connection is replaced at the next lookup; the caller fails closed meanwhile.
      this.options.log?.warn({ err: error }, "catalog lookup failed");
      void this.close();
      throw new SluiceError("INTERNAL", "the target's catalog could not be read", {}, { cause: error });
    }
  }

  private connect(): Promise<pg.Client> {
    this.client ??= (async () => {
      const client = new pg.Client({
        connectionString: this.options.url,
        application_name: "sluice-catalog",
      });
      client.on("error", (error) => {
        this.options.log?.warn({ err: error }, "catalog connection lost");
        void this.close();
      });
      await client.connect();
      return client;
    })();
    const pending = this.client;
    pending.catch(() => {
      if (this.client === pending) this.client = undefined;
    });
    return pending;
  }

  private pathOf(searchPath: string | undefined): { path: string[]; pathKey: string } {
    // Not known: no schema is searched (a real path always holds pg_catalog, so "?" is no real key).
    if (searchPath === UNKNOWN_SEARCH_PATH) return { path: [], pathKey: "?" };
    const setting = searchPath ?? this.defaultPath;
    // Asked several times per statement, nearly always with the same setting.
    if (this.lastPath?.setting === setting) return this.lastPath;
    const path = effectivePath(searchPathSchemas(setting, this.options.user));
    this.lastPath = { setting, path, pathKey: path.join(",") };
    return this.lastPath;
  }

  private expire(): void {
    if (this.ttlMs > 0 && this.now() - this.gen.startedAt >= this.ttlMs) this.invalidate();
  }

  private newGeneration(id: number): Generation {
    return {
      id,
      startedAt: this.now(),
      origins: new Map(),
      relations: new Map(),
      functions: new Map(),
      settled: new Set(),
    };
  }
}

/** Qualified names do not depend on the search_path; unqualified ones are cached per path. */
function relationKey(pathKey: string, name: QualifiedName): string {
  return name.schema === null ? `${pathKey}\0\0${name.name}` : `\0${name.schema}\0${name.name}`;
}

function lookupOf(gen: Generation, path: readonly string[], pathKey: string): CatalogLookup {
  return {
    cacheKey: `${gen.id}\0${pathKey}`,
    relation(schema, name) {
      return gen.relations.get(relationKey(pathKey, { schema, name })) ?? undefined;
    },
    functionKind(schema, name) {
      const schemas = gen.functions.get(name);
      if (!schemas) return undefined;
      if (schema !== null) {
        if (!schemas.includes(schema)) return undefined;
        return schema === "pg_catalog" ? "builtin" : "user";
      }
      // A function of that name in a schema on the path may overload (and win over) the built-in.
      // With the path not known (empty), any schema may be on it.
      if (schemas.some((s) => s !== "pg_catalog" && (path.length === 0 || path.includes(s)))) return "user";
      return schemas.includes("pg_catalog") ? "builtin" : undefined;
    },
  };
}
