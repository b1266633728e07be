/**
 * Lineage of an expression: the union of the columns it refers to, through operators, casts,
 * CASE (conditions included: a condition leaks its column one bit at a time), COALESCE and
 * every other node, walked generically so a node type not named here still counts its
 * children. Named here: column references (whole rows too), function calls (built-in or
 * opaque), subqueries, and nodes that carry no column data.
 */
import { type Fields, isRecord, strings, unwrap } from "../../../gate/classify/sql-tree.ts";
import { BUILTIN_NAMES, COUNTING, type FunctionKind, readsHiddenData } from "./functions.ts";
import { Acc, CONSTANT, type Lin, unknownLin } from "./lin.ts";
import {
  type Ctx,
  child,
  type Out,
  resolveColumn,
  type Scope,
  starAll,
  starOf,
  unresolved,
} from "./scope.ts";
import { selectOuts, statementOuts } from "./select.ts";

/** Nodes whose value holds no column data. */
const NO_DATA = new Set([
  "A_Const",
  "ParamRef",
  "SQLValueFunction",
  "GroupingFunc",
  "SetToDefault",
  "String",
  "Integer",
  "Float",
  "Boolean",
  "BitString",
  "A_Star",
  "TypeName",
  "CurrentOfExpr",
  "NextValueExpr",
]);

export function exprLin(node: unknown, scope: Scope, ctx: Ctx): Lin {
  const n = unwrap(node);
  if (n) {
    const [type, f] = n;
    // These may be exactly one column unchanged (direct); everything else is computed.
    if (type === "ColumnRef") return columnRef(f, scope, ctx);
    if (type === "A_Indirection") return indirection(f, scope, ctx);
    if (type === "SubLink" && f.subLinkType === "EXPR_SUBLINK") return subLink(f, scope, ctx);
  }
  const acc = new Acc();
  collect(node, scope, ctx, acc);
  return acc.lin();
}

function collect(value: unknown, scope: Scope, ctx: Ctx, acc: Acc): void {
  if (Array.isArray(value)) {
    for (const item of value) collect(item, scope, ctx, acc);
    return;
  }
  if (!isRecord(value)) return;
  const n = unwrap(value);
  if (!n) {
    for (const key in value) collect(value[key], scope, ctx, acc);
    return;
  }
  const [type, f] = n;
  if (NO_DATA.has(type)) return;
  switch (type) {
    case "ColumnRef":
      acc.add(columnRef(f, scope, ctx));
      return;
    case "A_Indirection":
      acc.add(indirection(f, scope, ctx));
      return;
    case "FuncCall":
      acc.add(funcCall(f, scope, ctx));
      return;
    case "SubLink":
      acc.add(subLink(f, scope, ctx));
      return;
    case "SelectStmt": // e.g. JSON_ARRAY(SELECT …)
      for (const out of selectOuts(f, child(scope), ctx)) acc.add(out.lin);
      return;
    default:
      if (type.endsWith("Stmt")) {
        const outs = statementOuts(type, f, scope, ctx);
        if (outs) for (const out of outs) acc.add(out.lin);
        else acc.markUnknown(`a ${type} inside an expression`);
        return;
      }
      for (const key in f) collect(f[key], scope, ctx, acc);
  }
}

/** `email`, `u.email`, `public.users.email`, `u` (whole row), `u.*` and `*` inside an expression. */
function columnRef(f: Fields, scope: Scope, ctx: Ctx): Lin {
  const fields = Array.isArray(f.fields) ? f.fields : [];
  const names = strings(fields);
  if (names.length < fields.length) {
    // A trailing `*`: the whole of what it names.
    const cols = names.length === 0 ? starAll(scope) : starOf(scope, names);
    if (!cols) return unresolved(ctx, `"${names.join(".")}.*"`);
    return unionOuts(cols);
  }
  return resolveColumn(scope, names) ?? unresolved(ctx, `column "${names.join(".")}"`);
}

/** `(u).email` is exactly u's email; other subscripts and field selections carry their base. */
function indirection(f: Fields, scope: Scope, ctx: Ctx): Lin {
  const arg = unwrap(f.arg);
  const path = Array.isArray(f.indirection) ? f.indirection : [];
  const field = strings(path.slice(0, 1))[0];
  if (arg?.[0] === "ColumnRef" && field !== undefined && path.length === 1) {
    const names = strings(arg[1].fields);
    if (names.length === (arg[1].fields as unknown[]).length) {
      const exact = resolveColumn(scope, [...names, field]);
      if (exact) return exact;
    }
  }
  const acc = new Acc();
  collect(f.arg, scope, ctx, acc);
  collect(path, scope, ctx, acc);
  return acc.lin();
}

function subLink(f: Fields, scope: Scope, ctx: Ctx): Lin {
  const kind = f.subLinkType;
  if (kind === "EXISTS_SUBLINK") return CONSTANT; // a boolean about rows, like WHERE (see the note in index.ts)
  const sub = unwrap(f.subselect);
  const outs = sub ? statementOuts(sub[0], sub[1], child(scope), ctx) : undefined;
  if (kind === "EXPR_SUBLINK" && outs?.length === 1 && !outs[0]?.spread) return (outs[0] as Out).lin;
  const acc = new Acc();
  if (!outs) acc.markUnknown("a subquery that returns no rows");
  else for (const out of outs) acc.add(out.lin);
  collect(f.testexpr, scope, ctx, acc);
  return acc.lin();
}

function funcCall(f: Fields, scope: Scope, ctx: Ctx): Lin {
  const parts = strings(f.funcname);
  const name = parts[parts.length - 1] ?? "";
  const schema = parts.length > 1 ? (parts[parts.length - 2] as string) : null;
  const kind = functionKind(ctx, schema, name);
  // Window clauses, ORDER BY inside an aggregate and FILTER choose rows, like WHERE.
  if (kind === "builtin" && (f.agg_star === true || COUNTING.has(name))) return CONSTANT;
  const acc = new Acc();
  collect(f.args, scope, ctx, acc);
  const args = acc.lin();
  if (kind === "builtin" && !readsHiddenData(name)) return args;
  ctx.opaque = true;
  const why =
    kind === "builtin"
      ? `${name}() reads data its arguments do not name`
      : `${parts.join(".")}() is not built in: its body may read any table`;
  return unknownLin(why, args.sources);
}

export function functionKind(ctx: Ctx, schema: string | null, name: string): FunctionKind | undefined {
  // View definitions come from pg_get_viewdef with an empty search_path: unqualified means pg_catalog.
  const where = schema ?? (ctx.inView > 0 ? "pg_catalog" : null);
  const lookup = ctx.catalog.functionKind;
  if (!lookup)
    return BUILTIN_NAMES.has(name) && (where === null || where === "pg_catalog") ? "builtin" : undefined;
  const kind = lookup.call(ctx.catalog, where, name);
  if (kind === undefined) ctx.complete = false;
  return kind;
}

export function unionOuts(outs: readonly Out[]): Lin {
  const acc = new Acc();
  for (const out of outs) acc.add(out.lin);
  return acc.lin();
}
