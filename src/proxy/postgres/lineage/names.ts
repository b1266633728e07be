/**
 * The catalog names a statement's lineage will ask about: relations (FROM, DML targets, COPY)
 * and functions, including those inside the definitions of views the catalog already knows,
 * so a caller can prefetch them all before the (synchronous) lineage walk.
 */
import { isRecord, strings, unwrap } from "../../../gate/classify/sql-tree.ts";
import type { CatalogLookup, QualifiedName } from "./index.ts";
import { parseDefinition, parseStatements } from "./parse.ts";

export interface NamesNeeded {
  relations: QualifiedName[];
  functions: QualifiedName[];
}

export function namesNeeded(sql: string, known?: CatalogLookup): NamesNeeded {
  const relations = new Map<string, QualifiedName>();
  const functions = new Map<string, QualifiedName>();
  const seenViews = new Set<string>();
  const add = (into: Map<string, QualifiedName>, schema: string | null, name: string) => {
    into.set(`${schema ?? ""}\0${name}`, { schema, name });
  };
  const walk = (value: unknown, inView: boolean): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item, inView);
      return;
    }
    if (!isRecord(value)) return;
    const n = unwrap(value);
    const [type, f] = n ?? ["", value];
    if (type === "RangeVar" || (!n && typeof f.relname === "string"))
      relation(f.schemaname, String(f.relname), inView);
    else if (type === "FuncCall") {
      const parts = strings(f.funcname);
      const name = parts.at(-1);
      if (name !== undefined)
        add(functions, parts.length > 1 ? (parts.at(-2) as string) : inView ? "pg_catalog" : null, name);
    }
    for (const key in f) {
      const child = f[key];
      if (typeof child === "object" && child !== null) walk(child, inView);
    }
  };
  const relation = (schemaName: unknown, name: string, inView: boolean) => {
    const schema = typeof schemaName === "string" && schemaName !== "" ? schemaName : null;
    // Inside a view definition an unqualified name is in pg_catalog (see from.ts); ask for both.
    if (schema === null && inView) add(relations, "pg_catalog", name);
    add(relations, schema, name);
    const info =
      known?.relation(schema ?? (inView ? "pg_catalog" : null), name) ??
      (schema === null ? known?.relation(null, name) : undefined);
    if (!info?.definition) return;
    const key = `${info.schema}.${info.name}`;
    if (seenViews.has(key)) return;
    seenViews.add(key);
    for (const stmt of parseDefinition(info.definition) ?? []) walk(stmt.fields, true);
  };
  for (const stmt of parseStatements(sql) ?? []) walk(stmt.fields, false);
  return { relations: [...relations.values()], functions: [...functions.values()] };
}
