/**
 * Lineage of queries: SELECT (target lists with `*` expansion, set operations, VALUES, CTEs
 * incl. recursive ones), RETURNING of INSERT/UPDATE/DELETE, and the statements that return
 * rows without being queries (COPY … TO STDOUT, EXPLAIN, SHOW, FETCH, EXECUTE, CALL).
 */
import { type Fields, isRecord, strings, unwrap } from "../../../gate/classify/sql-tree.ts";
import { exprLin } from "./expr.ts";
import { fromItem, relationItem } from "./from.ts";
import { Acc, CONSTANT, covers, unionLin, unknownLin } from "./lin.ts";
import { dmlOuts } from "./returning.ts";
import { type Ctx, child, type Out, type Scope, starAll, starOf, unresolved } from "./scope.ts";

/** A statement's result columns, or null when it returns no rows. */
export function statementOuts(type: string, f: Fields, scope: Scope, ctx: Ctx): Out[] | null {
  switch (type) {
    case "SelectStmt":
      return f.intoClause ? null : selectOuts(f, scope, ctx);
    case "InsertStmt":
    case "UpdateStmt":
    case "DeleteStmt":
      return dmlOuts(type, f, scope, ctx);
    case "MergeStmt":
      return Array.isArray(f.returningList) ? [opaqueSpread(ctx, "MERGE … RETURNING")] : null;
    default:
      return null;
  }
}

/** Top-level statements: queries, plus the utility statements that answer with rows. */
export function topLevelOuts(type: string, f: Fields, scope: Scope, ctx: Ctx): Out[] | null {
  switch (type) {
    case "CopyStmt":
      return copyOuts(f, scope, ctx);
    case "ExplainStmt":
      return [{ name: "QUERY PLAN", lin: CONSTANT }];
    case "VariableShowStmt":
      return [{ name: String(f.name ?? ""), lin: CONSTANT, spread: true }];
    case "FetchStmt":
      return f.ismove ? null : [opaqueSpread(ctx, "FETCH from a cursor")];
    case "ExecuteStmt":
      return [opaqueSpread(ctx, "EXECUTE of a prepared statement")];
    case "CallStmt":
      return [opaqueSpread(ctx, "CALL of a procedure")];
    default:
      return statementOuts(type, f, scope, ctx);
  }
}

export function selectOuts(f: Fields, scope: Scope, ctx: Ctx): Out[] {
  const s = isRecord(f.withClause) ? withScope(f.withClause, scope, ctx) : scope;
  if (typeof f.op === "string" && f.op !== "SETOP_NONE") {
    const left = selectOuts(bare(f.larg), s, ctx);
    const right = selectOuts(bare(f.rarg), s, ctx);
    return positional(left, right);
  }
  if (Array.isArray(f.valuesLists)) return valuesOuts(f.valuesLists, s, ctx);
  const level = child(s);
  // Each FROM item sees the ones before it (LATERAL; functions are implicitly lateral).
  for (const node of Array.isArray(f.fromClause) ? f.fromClause : [])
    level.items.push(fromItem(node, level, s, ctx));
  return targetList(f.targetList, level, ctx);
}

/** Set operation larg/rarg are bare SelectStmt structs. */
function bare(value: unknown): Fields {
  const n = unwrap(value);
  if (n?.[0] === "SelectStmt") return n[1];
  return isRecord(value) ? value : {};
}

/** Column i of a UNION/INTERSECT/EXCEPT carries column i of either side. */
function positional(left: Out[], right: Out[]): Out[] {
  if (left.length === right.length && !left.some((o) => o.spread) && !right.some((o) => o.spread))
    return left.map((o, i) => ({ name: o.name, lin: unionLin([o.lin, (right[i] as Out).lin]) }));
  const acc = new Acc();
  for (const o of left) acc.add(o.lin);
  for (const o of right) acc.add(o.lin);
  return [{ name: left[0]?.name ?? "?column?", lin: acc.lin(), spread: true }];
}

function valuesOuts(rows: unknown[], scope: Scope, ctx: Ctx): Out[] {
  const accs: Acc[] = [];
  for (const row of rows) {
    const items = unwrap(row)?.[1].items;
    if (!Array.isArray(items)) continue;
    for (const [i, item] of items.entries()) {
      accs[i] ??= new Acc();
      accs[i].add(exprLin(item, scope, ctx));
    }
  }
  return accs.map((acc, i) => ({ name: `column${i + 1}`, lin: acc.lin() }));
}

export function targetList(list: unknown, scope: Scope, ctx: Ctx): Out[] {
  const outs: Out[] = [];
  for (const node of Array.isArray(list) ? list : []) {
    const rt = unwrap(node)?.[1];
    if (!rt) continue;
    const val = unwrap(rt.val);
    if (val?.[0] === "ColumnRef" && endsWithStar(val[1].fields)) {
      const names = strings(val[1].fields);
      const cols = names.length === 0 ? starAll(scope) : starOf(scope, names);
      if (cols) outs.push(...cols);
      else outs.push({ name: "?column?", lin: unresolved(ctx, `"${names.join(".")}.*"`), spread: true });
      continue;
    }
    if (val?.[0] === "A_Indirection" && endsWithStar(val[1].indirection)) {
      outs.push(...indirectionStar(val[1], scope, ctx));
      continue;
    }
    const name = typeof rt.name === "string" ? rt.name : figureName(rt.val);
    outs.push({ name, lin: exprLin(rt.val, scope, ctx) });
  }
  return outs;
}

function endsWithStar(list: unknown): boolean {
  return Array.isArray(list) && unwrap(list[list.length - 1])?.[0] === "A_Star";
}

/** `(u).*` expands u's columns; `(expr).*` of any other composite is columns of unknown count. */
function indirectionStar(f: Fields, scope: Scope, ctx: Ctx): Out[] {
  const arg = unwrap(f.arg);
  const path = Array.isArray(f.indirection) ? f.indirection : [];
  if (arg?.[0] === "ColumnRef" && path.length === 1) {
    const names = strings(arg[1].fields);
    const cols = names.length > 0 ? starOf(scope, names) : undefined;
    if (cols) return cols;
  }
  return [{ name: "?column?", lin: exprLin({ A_Indirection: { arg: f.arg } }, scope, ctx), spread: true }];
}

/** PostgreSQL's FigureColname, for the names outer queries refer to. */
export function figureName(value: unknown): string {
  const n = unwrap(value);
  if (!n) return "?column?";
  const [type, f] = n;
  switch (type) {
    case "ColumnRef":
    case "A_Indirection": {
      const last = strings(type === "ColumnRef" ? f.fields : f.indirection).at(-1);
      const parts = type === "ColumnRef" ? (f.fields as unknown[]) : (f.indirection as unknown[]);
      if (last !== undefined && unwrap(parts.at(-1))?.[0] === "String") return last;
      return type === "A_Indirection" ? figureName(f.arg) : "?column?";
    }
    case "FuncCall":
      return strings(f.funcname).at(-1) ?? "?column?";
    case "TypeCast":
    case "CollateClause": {
      const inner = figureName(f.arg);
      if (inner !== "?column?" || type === "CollateClause") return inner;
      return strings(isRecord(f.typeName) ? f.typeName.names : undefined).at(-1) ?? inner;
    }
    case "A_Expr":
      return f.kind === "AEXPR_NULLIF" ? "nullif" : "?column?";
    case "CaseExpr":
      return "case";
    case "A_ArrayExpr":
      return "array";
    case "RowExpr":
      return "row";
    case "CoalesceExpr":
      return "coalesce";
    case "MinMaxExpr":
      return f.op === "IS_GREATEST" ? "greatest" : "least";
    case "GroupingFunc":
      return "grouping";
    case "SubLink": {
      if (f.subLinkType === "EXISTS_SUBLINK") return "exists";
      if (f.subLinkType === "ARRAY_SUBLINK") return "array";
      if (f.subLinkType !== "EXPR_SUBLINK") return "?column?";
      const first = unwrap(unwrap(f.subselect)?.[1].targetList?.[0 as never])?.[1];
      if (!first) return "?column?";
      return typeof first.name === "string" ? first.name : figureName(first.val);
    }
    default:
      return "?column?";
  }
}

/** WITH: each CTE sees the ones before it; a RECURSIVE one also sees itself (to a fixpoint). */
export function withScope(withClause: Fields, scope: Scope, ctx: Ctx): Scope {
  const ctes = new Map<string, { outs: Out[] }>();
  const s: Scope = { items: [], ctes, parent: scope };
  const recursive = withClause.recursive === true;
  for (const node of Array.isArray(withClause.ctes) ? withClause.ctes : []) {
    const cte = unwrap(node)?.[1];
    if (!cte) continue;
    const name = String(cte.ctename);
    const colnames = strings(cte.aliascolnames);
    const query = unwrap(cte.ctequery);
    if (!query) continue;
    const evaluate = () => rename(statementOuts(query[0], query[1], s, ctx) ?? [], colnames);
    if (!recursive) {
      ctes.set(name, { outs: evaluate() });
      continue;
    }
    // Start from the non-recursive term, then add what each round of the recursive term brings.
    const seed = query[0] === "SelectStmt" && query[1].op !== "SETOP_NONE" ? bare(query[1].larg) : undefined;
    let outs = seed ? rename(selectOuts(seed, s, ctx), colnames) : [];
    ctes.set(name, { outs });
    let stable = false;
    for (let round = 0; round < 10 && !stable; round++) {
      const next = positional(outs, evaluate());
      stable = next.length === outs.length && next.every((o, i) => covers((outs[i] as Out).lin, o.lin));
      outs = rename(next, colnames);
      ctes.set(name, { outs });
    }
    if (!stable) ctes.set(name, { outs: [opaqueSpread(ctx, `recursive CTE "${name}" did not settle`)] });
  }
  return s;
}

/** An alias column list renames the first columns. */
export function rename(outs: Out[], names: readonly string[]): Out[] {
  if (names.length === 0) return outs;
  return outs.map((o, i) => (i < names.length && !o.spread ? { ...o, name: names[i] as string } : o));
}

/** COPY … TO STDOUT: the query's columns, or the table's (or the listed ones). Other COPYs send no rows. */
function copyOuts(f: Fields, scope: Scope, ctx: Ctx): Out[] | null {
  if (f.is_from === true || f.is_program === true || typeof f.filename === "string") return null;
  const query = unwrap(f.query);
  if (query) return statementOuts(query[0], query[1], scope, ctx);
  if (!isRecord(f.relation)) return null;
  const item = relationItem(f.relation, scope, ctx);
  const listed = strings(f.attlist);
  if (listed.length === 0) return item.star;
  return listed.map((name) => {
    const col = item.star.find((o) => !o.spread && o.name === name);
    const spread = item.star.find((o) => o.spread);
    return col ?? { name, lin: spread?.lin ?? unresolved(ctx, `column "${name}"`) };
  });
}

export function opaqueSpread(ctx: Ctx, what: string): Out {
  ctx.opaque = true;
  return {
    name: "?column?",
    lin: unknownLin(`${what}: its columns are not visible in the statement`),
    spread: true,
  };
}
