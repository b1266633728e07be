/**
 * Column lineage for PostgreSQL masking: where each output column of a statement's result
 * comes from, worked out from the parse tree (libpg-query) and the catalog, so that
 * `SELECT upper(email) AS x`, `row_to_json(u)`, `string_agg(ssn, ',')`, `u.*`, views, CTEs,
 * subqueries, UNION, RETURNING and COPY cannot carry a masked column out unmasked.
 *
 * Shapes:
 * - `ColumnLineage` per output column, in RowDescription order:
 *   - `columns`: the base columns ("schema.table.column", views expanded) whose data the value
 *     may carry; `direct` when it is exactly one of them unchanged.
 *   - `constant`: no column data (literals, $1, now(), count(*), EXISTS (…), EXPLAIN).
 *   - `unknown`: lineage could not be established (`reason`); `sources` is what is known
 *     anyway, `reach` every column of every base relation the statement touches, `opaque`
 *     when the statement also calls something whose contents are invisible (a function that
 *     is not built in, a cursor, a prepared statement, a relation missing from the catalog).
 *   - `spread: true`: the entry stands for any number of columns (e.g. `SELECT f.* FROM
 *     my_func() f`); `alignLineage` fits it to the RowDescription's field count.
 * - `maskPlanFor` (plan.ts) turns lineage (+ origins from RowDescription) and the masking
 *   profile's column rules into one decision per column, or a denial.
 *
 * Deliberately not lineage: WHERE, JOIN … ON, GROUP BY, HAVING, ORDER BY, FILTER, window
 * PARTITION BY and EXISTS choose or order rows; they never put a column's value in the
 * output. (They can still leak by inference, e.g. `count(*) WHERE ssn LIKE '1%'`; masking
 * cannot prevent that — restrict such tables by rule.) Operators are treated as built-in
 * (a user-defined operator's function is not looked at).
 *
 * Functions: a pg_catalog function carries its arguments' columns; any other function is
 * opaque (unknown lineage that may carry anything). `CatalogLookup.functionKind` says which
 * is which; without it a list of common built-ins is used.
 *
 * Results are cached by statement shape (text with literals replaced, see sql-shape.ts: no
 * literal changes lineage) when the lookup gives a `cacheKey` (catalog generation and
 * search_path) and knew every name the statement used.
 */
import { LRUCache } from "lru-cache";
import { shapeKey } from "../../../gate/classify/sql-shape.ts";
import type { Lin } from "./lin.ts";
import { namesNeeded } from "./names.ts";
import { parseStatements } from "./parse.ts";
import { type Ctx, type Out, ROOT } from "./scope.ts";
import { topLevelOuts } from "./select.ts";

export { type NamesNeeded, namesNeeded } from "./names.ts";
export { initLineage } from "./parse.ts";
export { alignLineage, type ColumnMask, type MaskPlan, type MaskPlanOptions, maskPlanFor } from "./plan.ts";

export interface RelationInfo {
  schema: string;
  name: string;
  kind: "table" | "view" | "matview" | "foreign" | "other";
  /** Column names in attnum order, dropped columns excluded. */
  columns: string[];
  /** Views and materialized views: the definition SQL (pg_get_viewdef, names schema-qualified). */
  definition?: string;
  oid?: number;
  /** An unqualified name that a temporary relation of some session also has: it may resolve to that instead. */
  shadowed?: boolean;
}

export interface QualifiedName {
  schema: string | null;
  name: string;
}

export interface CatalogLookup {
  /**
   * Resolves a relation name as written (schema-qualified or not, via the session's
   * search_path) to its info; undefined if not found. Synchronous: prefetch with `namesNeeded`.
   */
  relation(schema: string | null, name: string): RelationInfo | undefined;
  /**
   * "builtin" for a pg_catalog function nothing on the search_path overloads, "user" for any
   * other existing function, undefined when there is none of that name.
   */
  functionKind?(schema: string | null, name: string): "builtin" | "user" | undefined;
  /** Identifies what this lookup answers (catalog generation + search_path); enables caching. */
  readonly cacheKey?: string;
}

export type ColumnLineage = (
  | { kind: "columns"; sources: string[]; direct: boolean }
  | { kind: "constant" }
  | { kind: "unknown"; reason: string; sources: string[]; reach: string[]; opaque: boolean }
) & { spread?: boolean };

/** Per statement: its result columns' lineage, or null when it returns no rows. */
export type StatementLineage = ColumnLineage[] | null;

/** Relation names lineageOf will ask the catalog for (with `known`, also those inside known views' definitions). */
export function relationsNeeded(sql: string, known?: CatalogLookup): QualifiedName[] {
  return namesNeeded(sql, known).relations;
}

/** Lineage of the LAST statement of the text that returns rows; null when none does or it does not parse. */
export function lineageOf(sql: string, catalog: CatalogLookup): StatementLineage {
  const all = lineageOfStatements(sql, catalog);
  for (let i = all.length - 1; i >= 0; i--) if (all[i]) return all[i] as ColumnLineage[];
  return null;
}

const cache = new LRUCache<string, StatementLineage[]>({ max: 5_000 });
const MAX_CACHED_LENGTH = 16_384;

/**
 * Lineage of every statement of a (simple-protocol, possibly multi-statement) text, in order.
 * Empty when the text does not parse (PostgreSQL would refuse it too). Results are frozen.
 */
export function lineageOfStatements(sql: string, catalog: CatalogLookup): StatementLineage[] {
  const key =
    catalog.cacheKey !== undefined && sql.length <= MAX_CACHED_LENGTH
      ? `${catalog.cacheKey}\0${shapeKey(sql)}`
      : undefined;
  const hit = key === undefined ? undefined : cache.get(key);
  if (hit) return hit;
  const statements = parseStatements(sql);
  if (!statements) return [];
  let complete = true;
  const result = statements.map((stmt) => {
    const ctx: Ctx = {
      catalog,
      reach: new Set(),
      opaque: false,
      complete: true,
      views: [],
      expanded: new Map(),
      inView: 0,
    };
    let outs: Out[] | null;
    try {
      outs = topLevelOuts(stmt.type, stmt.fields, ROOT, ctx);
    } catch (error) {
      // e.g. a stack overflow on absurd nesting: say unknown rather than guess.
      ctx.opaque = true;
      const reason = `lineage failed: ${error instanceof Error ? error.message : String(error)}`;
      outs = [
        { name: "?column?", lin: { sources: new Set(), direct: false, unknown: reason }, spread: true },
      ];
    }
    complete &&= ctx.complete;
    if (!outs) return null;
    // One reach array per statement, shared by its unknown columns.
    const reach = Object.freeze([...ctx.reach]) as string[];
    return Object.freeze(outs.map((out) => toColumnLineage(out, reach, ctx.opaque)));
  });
  const frozen = Object.freeze(result) as StatementLineage[];
  if (key !== undefined && complete) cache.set(key, frozen);
  return frozen;
}

function toColumnLineage(out: Out, reach: string[], opaque: boolean): ColumnLineage {
  const lin: Lin = out.lin;
  const spread = out.spread ? { spread: true } : undefined;
  let result: ColumnLineage;
  if (lin.unknown !== undefined)
    result = {
      kind: "unknown",
      reason: lin.unknown,
      sources: [...lin.sources],
      reach,
      opaque,
    };
  else if (lin.sources.size > 0) result = { kind: "columns", sources: [...lin.sources], direct: lin.direct };
  else result = { kind: "constant" };
  return Object.freeze(spread ? Object.assign(result, spread) : result);
}
