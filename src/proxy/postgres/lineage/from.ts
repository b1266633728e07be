/**
 * FROM items: base relations (their columns are the sources), views and materialized views
 * (their definitions expanded, recursively, with a cycle guard), CTE references, subqueries,
 * set-returning functions, and joins (USING / NATURAL merge columns the way `*` shows them).
 */
import { type Fields, isRecord, strings, unwrap } from "../../../gate/classify/sql-tree.ts";
import { exprLin, functionKind, unionOuts } from "./expr.ts";
import { KNOWN_SRF_COLUMNS } from "./functions.ts";
import type { RelationInfo } from "./index.ts";
import { baseColumn, CONSTANT, type Lin, unionLin, unknownLin } from "./lin.ts";
import { parseDefinition } from "./parse.ts";
import { type Ctx, child, type Entry, findCte, type Item, type Out, ROOT, type Scope } from "./scope.ts";
import { rename, selectOuts, statementOuts } from "./select.ts";

/** Nested view expansion deeper than this is treated as unknown. */
const MAX_VIEW_DEPTH = 32;

/**
 * One FROM item. `lateral` is the query level being built (it holds the items before this
 * one); `outer` is the scope around the query.
 */
export function fromItem(node: unknown, lateral: Scope, outer: Scope, ctx: Ctx): Item {
  const n = unwrap(node);
  if (!n)
    return isRecord(node) && typeof node.relname === "string"
      ? relationItem(node, outer, ctx)
      : opaqueItem(ctx, "?");
  const [type, f] = n;
  switch (type) {
    case "RangeVar":
      return relationItem(f, outer, ctx);
    case "RangeTableSample":
      return fromItem(f.relation, lateral, outer, ctx);
    case "RangeSubselect": {
      const sub = unwrap(f.subquery);
      const scope = f.lateral === true ? child(lateral) : child(outer);
      const outs = sub ? (statementOuts(sub[0], sub[1], scope, ctx) ?? []) : [];
      return aliased(outs, f.alias);
    }
    case "RangeFunction":
      return functionItem(f, child(lateral), ctx);
    case "JoinExpr":
      return joinItem(f, lateral, outer, ctx);
    default: {
      // XMLTABLE, JSON_TABLE, …: columns of a count not worked out here, carrying all their inputs.
      const lin = exprLin({ [type]: f }, child(lateral), ctx);
      return aliased([{ name: "?column?", lin, spread: true }], f.alias);
    }
  }
}

function aliased(outs: Out[], alias: unknown, schema?: string): Item {
  const a = isRecord(alias) ? alias : {};
  const cols = rename(outs, strings(a.colnames));
  const entry: Entry = { alias: typeof a.aliasname === "string" ? a.aliasname : "", schema, cols };
  return { entries: [entry], star: cols };
}

function opaqueItem(ctx: Ctx, what: string, alias?: unknown): Item {
  ctx.opaque = true;
  return aliased([{ name: "?column?", lin: unknownLin(what), spread: true }], alias);
}

/** A relation named in FROM (or as a DML/COPY target): a CTE, a base relation or a view. */
export function relationItem(rv: Fields, scope: Scope, ctx: Ctx): Item {
  const name = String(rv.relname ?? "");
  const schema = typeof rv.schemaname === "string" && rv.schemaname !== "" ? rv.schemaname : null;
  const alias = isRecord(rv.alias) ? rv.alias : { aliasname: name };
  if (schema === null) {
    const cte = findCte(scope, name);
    if (cte) return aliased(cte.outs, alias);
  }
  const info = lookupRelation(ctx, schema, name);
  if (!info)
    return opaqueItem(ctx, `relation "${schema ? `${schema}.` : ""}${name}" is not in the catalog`, alias);
  return aliased(relationOuts(info, ctx), alias, isRecord(rv.alias) ? undefined : info.schema);
}

function lookupRelation(ctx: Ctx, schema: string | null, name: string): RelationInfo | undefined {
  const { catalog } = ctx;
  // View definitions are printed with an empty search_path: an unqualified name there is in pg_catalog.
  const info =
    schema === null && ctx.inView > 0
      ? (catalog.relation("pg_catalog", name) ?? catalog.relation(null, name))
      : catalog.relation(schema, name);
  if (!info) ctx.complete = false;
  return info;
}

/** The columns of a relation as values: base columns, or a view's expansion. */
function relationOuts(info: RelationInfo, ctx: Ctx): Out[] {
  const key = `${info.schema}.${info.name}`;
  if (info.shadowed) {
    ctx.opaque = true;
    const lin = unknownLin(`"${info.name}" may name a temporary relation of the session`);
    return info.columns.map((name) => ({ name, lin }));
  }
  if (info.kind !== "view" && info.kind !== "matview") {
    return info.columns.map((name) => {
      const source = `${key}.${name}`;
      ctx.reach.add(source);
      return { name, lin: baseColumn(source) };
    });
  }
  const done = ctx.expanded.get(key);
  if (done) return done;
  const outs = expandView(info, key, ctx);
  ctx.expanded.set(key, outs);
  return outs;
}

function expandView(info: RelationInfo, key: string, ctx: Ctx): Out[] {
  const unknown = (why: string): Out[] => {
    ctx.opaque = true;
    const lin = unknownLin(why);
    return info.columns.map((name) => ({ name, lin }));
  };
  if (ctx.views.includes(key) || ctx.views.length >= MAX_VIEW_DEPTH)
    return unknown(`view ${key} refers to itself`);
  const parsed = info.definition ? parseDefinition(info.definition) : undefined;
  const stmt = parsed?.length === 1 ? parsed[0] : undefined;
  if (stmt?.type !== "SelectStmt") return unknown(`the definition of view ${key} is not known`);
  ctx.views.push(key);
  ctx.inView++;
  let outs: Out[];
  try {
    outs = selectOuts(stmt.fields, ROOT, ctx);
  } finally {
    ctx.inView--;
    ctx.views.pop();
  }
  if (outs.length === info.columns.length && !outs.some((o) => o.spread))
    return outs.map((o, i) => ({ name: info.columns[i] as string, lin: o.lin }));
  // The definition and the catalog disagree on the columns: every column may be any of them.
  const lin = unionOuts(outs);
  return info.columns.map((name) => ({ name, lin }));
}

/** Set-returning functions in FROM (and ROWS FROM): columns from definition lists, or known shapes. */
function functionItem(f: Fields, scope: Scope, ctx: Ctx): Item {
  const outs: Out[] = [];
  const alias = isRecord(f.alias) ? f.alias : undefined;
  const functions = Array.isArray(f.functions) ? f.functions : [];
  let single = "";
  for (const entry of functions) {
    const items = unwrap(entry)?.[1].items;
    const call = Array.isArray(items) ? items[0] : undefined;
    const defs =
      Array.isArray(items) && Array.isArray(unwrap(items[1])?.[1].items)
        ? unwrap(items[1])?.[1].items
        : f.coldeflist;
    const fn = unwrap(call);
    const parts = fn?.[0] === "FuncCall" ? strings(fn[1].funcname) : [];
    const name = parts.at(-1) ?? "?column?";
    single = name;
    const builtin =
      parts.length > 0 &&
      functionKind(ctx, parts.length > 1 ? (parts.at(-2) as string) : null, name) === "builtin";
    const args = fn?.[0] === "FuncCall" && Array.isArray(fn[1].args) ? fn[1].args : [];
    if (Array.isArray(defs) && defs.length > 0) {
      const lin = exprLin(call, scope, ctx);
      for (const def of defs) outs.push({ name: String(unwrap(def)?.[1].colname ?? "?column?"), lin });
    } else if (builtin && name === "unnest" && args.length > 1) {
      for (const arg of args) outs.push({ name, lin: notDirect(exprLin(arg, scope, ctx)) });
    } else if (builtin && KNOWN_SRF_COLUMNS.has(name)) {
      const lin = exprLin(call, scope, ctx);
      for (const col of KNOWN_SRF_COLUMNS.get(name) ?? []) outs.push({ name: col || name, lin });
    } else if (builtin && name === "unnest") {
      outs.push({ name, lin: exprLin(call, scope, ctx) });
    } else if (fn?.[0] !== "FuncCall") {
      outs.push({ name: "?column?", lin: exprLin(call, scope, ctx) });
    } else {
      // Composite or record results: the number of columns is not known here.
      outs.push({ name, lin: exprLin(call, scope, ctx), spread: true });
    }
  }
  // A single scalar function's column is named after the alias.
  if (
    functions.length === 1 &&
    outs.length === 1 &&
    !outs[0]?.spread &&
    typeof alias?.aliasname === "string" &&
    !f.coldeflist
  )
    (outs[0] as Out).name = alias.aliasname;
  if (f.ordinality === true) outs.push({ name: "ordinality", lin: CONSTANT });
  return aliased(outs, alias ?? { aliasname: functions.length === 1 ? single : "" });
}

function notDirect(lin: Lin): Lin {
  return lin.direct ? { sources: lin.sources, direct: false, unknown: lin.unknown } : lin;
}

function joinItem(f: Fields, lateral: Scope, outer: Scope, ctx: Ctx): Item {
  const left = fromItem(f.larg, lateral, outer, ctx);
  // The right side of a join may be LATERAL and refer to the left side.
  const rightScope: Scope = { items: [...lateral.items, left], ctes: null, parent: lateral.parent };
  const right = fromItem(f.rarg, rightScope, outer, ctx);
  const names = f.isNatural === true ? commonNames(left.star, right.star) : strings(f.usingClause);
  const merged = new Map<string, Out>();
  for (const name of names) {
    const lins: Lin[] = [];
    for (const side of [left, right])
      for (const col of side.star) if (col.spread || col.name === name) lins.push(col.lin);
    merged.set(name, { name, lin: lins.length > 0 ? unionLin(lins) : unknownLin(`join column "${name}"`) });
  }
  const star: Out[] = [...merged.values()];
  for (const side of [left, right])
    for (const col of side.star) if (col.spread || !merged.has(col.name)) star.push(col);
  const entries = [...left.entries, ...right.entries];
  const alias = isRecord(f.alias) ? f.alias : undefined;
  if (alias) {
    const joined = aliased(star, alias);
    // Unqualified names find the alias's (possibly renamed) columns and, conservatively, the sides' too.
    return { entries: [...joined.entries, ...entries], star: joined.star };
  }
  return { entries, star, merged, sides: [left, right] };
}

function commonNames(left: Out[], right: Out[]): string[] {
  const rightNames = new Set(right.filter((o) => !o.spread).map((o) => o.name));
  return left.filter((o) => !o.spread && rightNames.has(o.name)).map((o) => o.name);
}
