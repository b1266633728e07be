/** Reading libpg-query's JSON parse tree: node shapes, constants, and a few questions about them. */

export type Fields = Record<string, unknown>;

export function isRecord(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `{ SelectStmt: {…} }` → ["SelectStmt", {…}]; undefined for a bare struct. */
export function unwrap(value: unknown): [string, Fields] | undefined {
  if (!isRecord(value)) return undefined;
  let only: string | undefined;
  for (const key in value) {
    if (only !== undefined) return undefined;
    only = key;
  }
  const first = only?.charCodeAt(0) ?? 0;
  if (only === undefined || first < 65 || first > 90) return undefined;
  const inner = value[only];
  return isRecord(inner) ? [only, inner] : undefined;
}

/** A WHERE clause restricts the rows only if it refers to a column (or a cursor): `WHERE true`, `WHERE 1=1` do not. */
export function restricts(where: unknown): boolean {
  return where !== undefined && contains(where, (key) => key === "ColumnRef" || key === "CurrentOfExpr");
}

function contains(value: unknown, test: (key: string) => boolean): boolean {
  if (Array.isArray(value)) return value.some((item) => contains(item, test));
  if (!isRecord(value)) return false;
  for (const key in value) if (test(key) || contains(value[key], test)) return true;
  return false;
}

/** EXPLAIN runs the statement unless ANALYZE is absent or explicitly false. */
export function explainAnalyzes(options: unknown): boolean {
  if (!Array.isArray(options)) return false;
  return options.some((option) => {
    const elem = unwrap(option)?.[1];
    if (elem?.defname !== "analyze") return false;
    const value = constantValue(elem.arg);
    return !(value === false || value === 0 || ["false", "off", "no", "0"].includes(String(value)));
  });
}

/** Whether a DO or CREATE FUNCTION body (not parsed: procedural code) contains EXECUTE, i.e. dynamic SQL. */
export function bodyExecutes(options: unknown): boolean {
  const bodies: string[] = [];
  for (const option of Array.isArray(options) ? options : []) {
    const elem = unwrap(option)?.[1];
    if (elem?.defname !== "as") continue;
    const arg = unwrap(elem.arg);
    if (arg?.[0] === "String") bodies.push(String(arg[1].sval));
    else bodies.push(...strings(arg?.[1]?.items));
  }
  return bodies.some((body) => /\bexecute\b/i.test(body));
}

/** The svals of a list of `{String: {sval}}` nodes. */
export function strings(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((item) => {
    const node = unwrap(item);
    return node?.[0] === "String" && typeof node[1].sval === "string" ? [node[1].sval] : [];
  });
}

/** The value of a constant (A_Const, String, Integer, Boolean node); undefined when not a constant. */
export function constantValue(value: unknown): string | number | boolean | undefined {
  const node = unwrap(value);
  if (!node) return undefined;
  const [type, fields] = node;
  if (type === "A_Const") {
    if (isRecord(fields.sval)) return String(fields.sval.sval ?? "").toLowerCase();
    if (isRecord(fields.ival)) return Number(fields.ival.ival ?? 0);
    if (isRecord(fields.boolval)) return fields.boolval.boolval === true;
    return undefined;
  }
  if (type === "String") return String(fields.sval ?? "").toLowerCase();
  if (type === "Integer") return Number(fields.ival ?? 0);
  if (type === "Boolean") return fields.boolval === true;
  return undefined;
}
