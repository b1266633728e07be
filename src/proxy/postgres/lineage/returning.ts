/**
 * RETURNING of INSERT, UPDATE and DELETE: the target's columns carry what they held and what
 * the statement put in them (VALUES, INSERT … SELECT, SET, ON CONFLICT DO UPDATE), so
 * `UPDATE users SET name = ssn RETURNING name` is masked like ssn.
 */
import { type Fields, isRecord, unwrap } from "../../../gate/classify/sql-tree.ts";
import { exprLin } from "./expr.ts";
import { fromItem, relationItem } from "./from.ts";
import { Acc, type Lin, unionLin } from "./lin.ts";
import { type Ctx, child, type Item, type Out, type Scope } from "./scope.ts";
import { statementOuts, targetList, withScope } from "./select.ts";

/** RETURNING: the target's columns carry what they held and what the statement put in them. */
export function dmlOuts(type: string, f: Fields, scope: Scope, ctx: Ctx): Out[] | null {
  if (!Array.isArray(f.returningList) || f.returningList.length === 0) return null;
  const s = isRecord(f.withClause) ? withScope(f.withClause, scope, ctx) : scope;
  const target = relationItem(isRecord(f.relation) ? f.relation : {}, s, ctx);
  const assigned = new Map<string, Acc>();
  const assign = (column: string, lin: Lin) => {
    let acc = assigned.get(column);
    if (!acc) {
      acc = new Acc();
      assigned.set(column, acc);
    }
    acc.add(lin);
  };
  const level = child(s, [target]);
  if (type === "InsertStmt") {
    const sel = unwrap(f.selectStmt);
    const values = sel ? (statementOuts(sel[0], sel[1], s, ctx) ?? []) : [];
    const named = Array.isArray(f.cols) ? f.cols.map((c) => String(unwrap(c)?.[1].name ?? "")) : undefined;
    const columns = named ?? target.star.filter((o) => !o.spread).map((o) => o.name);
    if (values.some((v) => v.spread)) for (const c of columns) assign(c, unionLin(values.map((v) => v.lin)));
    else for (const [i, v] of values.entries()) assign(columns[i] ?? "", v.lin);
    const conflict = isRecord(f.onConflictClause) ? f.onConflictClause : undefined;
    if (Array.isArray(conflict?.targetList)) {
      const excluded: Item = withAssigned(target, assigned, "excluded");
      assignAll(conflict.targetList, child(s, [target, excluded]), ctx, assign);
    }
  } else {
    const extra = type === "UpdateStmt" ? f.fromClause : f.usingClause;
    for (const node of Array.isArray(extra) ? extra : []) level.items.push(fromItem(node, level, s, ctx));
    if (type === "UpdateStmt") assignAll(f.targetList, level, ctx, assign);
  }
  level.items[0] = withAssigned(target, assigned);
  return targetList(f.returningList, level, ctx);
}

/** SET col = expr, (a, b) = (SELECT …) and (a, b) = ROW(…). */
function assignAll(list: unknown, scope: Scope, ctx: Ctx, assign: (column: string, lin: Lin) => void): void {
  for (const node of Array.isArray(list) ? list : []) {
    const rt = unwrap(node)?.[1];
    if (!rt) continue;
    const multi = unwrap(rt.val);
    if (multi?.[0] !== "MultiAssignRef") {
      assign(String(rt.name), exprLin(rt.val, scope, ctx));
      continue;
    }
    const source = unwrap(multi[1].source);
    const colno = Number(multi[1].colno) - 1;
    if (source?.[0] === "RowExpr" && Array.isArray(source[1].args) && colno < source[1].args.length)
      assign(String(rt.name), exprLin(source[1].args[colno], scope, ctx));
    else if (source?.[0] === "SubLink") {
      const sub = unwrap(source[1].subselect);
      const outs = sub ? statementOuts(sub[0], sub[1], child(scope), ctx) : null;
      const out = outs?.[colno];
      assign(
        String(rt.name),
        out && !outs.some((o) => o.spread) ? out.lin : unionLin((outs ?? []).map((o) => o.lin)),
      );
    } else assign(String(rt.name), exprLin(multi[1].source, scope, ctx));
  }
}

function withAssigned(target: Item, assigned: Map<string, Acc>, alias?: string): Item {
  const cols = target.star.map((o) => {
    const acc = assigned.get(o.name);
    if (!acc) return o;
    acc.add(o.lin);
    return { name: o.name, lin: acc.lin(), spread: o.spread };
  });
  const entry = target.entries[0];
  return {
    entries: [{ alias: alias ?? entry?.alias ?? "", schema: alias ? undefined : entry?.schema, cols }],
    star: cols,
  };
}
