/**
 * Walks one libpg-query parse tree generically: every RangeVar is a relation, every FuncCall
 * a function call, every *Stmt node a (possibly nested) statement, wherever they sit. The
 * node-specific knowledge lives in the tables of sql-rules.ts and the few handlers below.
 *
 * The JSON has two shapes: `{ TypeName: { …fields } }` for fields typed `Node *` in C, and a
 * bare `{ …fields }` for fields typed with a concrete struct (INLINE_TYPES, and RangeVar,
 * recognised by its `relname`).
 */
import type { SqlFlag } from "./sql.ts";
import { hasSideEffects, isDangerousFunction, isDynamicSqlFunction } from "./sql-functions.ts";
import {
  ALTER_TABLE_FLAGS,
  DEFERRED_FIELDS,
  DROPPED_RELATIONS,
  GUARDED_SETTINGS,
  INLINE_TYPES,
  kindOf,
  PREFIX_FLAGS,
  READ_ONLY_KINDS,
  STATEMENT_FLAGS,
  WRITE_FIELDS,
} from "./sql-rules.ts";
import {
  bodyExecutes,
  constantValue,
  explainAnalyzes,
  type Fields,
  isRecord,
  restricts,
  strings,
  unwrap,
} from "./sql-tree.ts";

/** What one top-level statement does. */
export interface Findings {
  kind: string;
  reads: Set<string>;
  writes: Set<string>;
  functions: Set<string>;
  flags: Set<SqlFlag>;
  /** Kinds of statements nested inside it that run with it (CTE DML, EXPLAIN ANALYZE, PREPARE). */
  innerKinds: Set<string>;
  /** Cleared by anything that changes state; writes and most flags clear it too (see sql.ts). */
  readOnly: boolean;
}

interface Scope {
  f: Findings;
  /** CTE names visible here: an unqualified RangeVar read with one of these names is not a relation. */
  ctes: ReadonlySet<string>;
  root: Fields;
  /** Inside a statement stored for later: its flags count, its kind is not an inner kind. */
  deferred: boolean;
}

const NO_FIELDS: readonly string[] = [];

export function walkStatement(stmt: unknown): Findings {
  const [type, fields] = unwrap(stmt) ?? ["", {}];
  const f: Findings = {
    kind: kindOf(type, fields),
    reads: new Set(),
    writes: new Set(),
    functions: new Set(),
    flags: new Set(),
    innerKinds: new Set(),
    readOnly: true,
  };
  visitNode(type, fields, { f, ctes: new Set(), root: fields, deferred: false }, false);
  return f;
}

function visit(value: unknown, scope: Scope, write: boolean): void {
  if (Array.isArray(value)) {
    for (const item of value) visit(item, scope, write);
    return;
  }
  if (!isRecord(value)) return;
  const node = unwrap(value);
  if (node) visitNode(node[0], node[1], scope, write);
  else if (typeof value.relname === "string") addRelation(value, scope, write);
  else visitFields(value, scope);
}

/** Visits every field; `writes` names the fields whose relations are written. */
function visitFields(fields: Fields, scope: Scope, writes: readonly string[] = NO_FIELDS): void {
  let inner = scope;
  if (isRecord(fields.withClause)) inner = enterWith(fields.withClause, scope);
  for (const key in fields) {
    const child = fields[key];
    if (typeof child !== "object" || child === null || key === "withClause") continue;
    const write = writes.includes(key);
    const childScope = DEFERRED_FIELDS.has(key) ? { ...inner, deferred: true } : inner;
    const inlineType = INLINE_TYPES.get(key);
    if (inlineType && isRecord(child) && !unwrap(child)) visitNode(inlineType, child, childScope, write);
    else visit(child, childScope, write);
  }
}

/** Makes the CTE names visible: in their own bodies only when RECURSIVE, else to later siblings. */
function enterWith(withClause: Fields, scope: Scope): Scope {
  const names = new Set(scope.ctes);
  const ctes = (Array.isArray(withClause.ctes) ? withClause.ctes : []).map((c) => unwrap(c)?.[1] ?? {});
  if (withClause.recursive) for (const cte of ctes) names.add(String(cte.ctename));
  for (const cte of ctes) {
    visit(cte.ctequery, { ...scope, ctes: names }, false);
    names.add(String(cte.ctename));
  }
  return { ...scope, ctes: names };
}

function visitNode(type: string, fields: Fields, scope: Scope, write: boolean): void {
  const handler = NODE_HANDLERS[type];
  if (handler) handler(fields, scope, write);
  else if (type.endsWith("Stmt")) visitStatement(type, fields, scope);
  else visitFields(fields, scope, WRITE_FIELDS[type]);
}

type Handler = (fields: Fields, scope: Scope, write: boolean) => void;

const NODE_HANDLERS: Record<string, Handler> = {
  RangeVar: addRelation,
  FuncCall: addFunction,
  ColumnRef: () => {},
  A_Const: () => {},
  String: () => {},
  // FOR UPDATE/SHARE locks rows; its relation list names FROM items, not new relations.
  LockingClause: (_, scope) => {
    scope.f.readOnly = false;
  },
  DefElem: (fields, scope) => {
    // BEGIN / SET TRANSACTION … READ WRITE lifts a read-only default.
    if (fields.defname === "transaction_read_only" && constantValue(fields.arg) !== 1)
      scope.f.readOnly = false;
    visitFields(fields, scope);
  },
};

function addRelation(rv: Fields, scope: Scope, write: boolean): void {
  const parts = [rv.catalogname, rv.schemaname, rv.relname].filter((p) => typeof p === "string" && p !== "");
  const name = parts.join(".");
  if (write) scope.f.writes.add(name);
  else if (parts.length > 1 || !scope.ctes.has(name)) scope.f.reads.add(name);
}

function addFunction(call: Fields, scope: Scope): void {
  const parts = strings(call.funcname).map((s) => s.toLowerCase());
  const base = parts.at(-1) ?? "";
  const { f } = scope;
  f.functions.add(parts.join("."));
  if (isDangerousFunction(base)) {
    f.flags.add("dangerous_function");
    f.readOnly = false;
  }
  if (isDynamicSqlFunction(base)) f.flags.add("dynamic_sql");
  if (hasSideEffects(base)) f.readOnly = false;
  if (base === "set_config") {
    const args = Array.isArray(call.args) ? call.args : [];
    const setting = constantValue(args[0]);
    // A computed setting name could be either: flag both.
    if (setting === undefined || setting === "role") f.flags.add("set_role");
    if (setting === undefined || setting === "session_authorization")
      f.flags.add("set_session_authorization");
  }
  visitFields(call, scope);
}

function visitStatement(type: string, fields: Fields, scope: Scope): void {
  const { f } = scope;
  const kind = kindOf(type, fields);
  if (fields !== scope.root && !scope.deferred && kind !== "select") f.innerKinds.add(kind);
  if (!READ_ONLY_KINDS.has(kind)) f.readOnly = false;
  for (const flag of staticFlags(type)) f.flags.add(flag);
  const handler = STATEMENT_HANDLERS[type];
  if (handler) handler(fields, scope);
  else visitFields(fields, scope, WRITE_FIELDS[type]);
}

const flagCache = new Map<string, SqlFlag[]>();

function staticFlags(type: string): SqlFlag[] {
  let flags = flagCache.get(type);
  if (!flags) {
    flags = [...(STATEMENT_FLAGS[type] ?? [])];
    for (const [prefix, extra] of PREFIX_FLAGS) if (type.startsWith(prefix)) flags.push(...extra);
    flagCache.set(type, flags);
  }
  return flags;
}

type StatementHandler = (fields: Fields, scope: Scope) => void;

const STATEMENT_HANDLERS: Record<string, StatementHandler> = {
  SelectStmt: (fields, scope) => {
    if (fields.intoClause) scope.f.flags.add("ddl");
    visitFields(fields, scope);
  },
  DeleteStmt: (fields, scope) => {
    if (!restricts(fields.whereClause)) scope.f.flags.add("delete_without_where");
    visitFields(fields, scope, WRITE_FIELDS.DeleteStmt);
  },
  UpdateStmt: (fields, scope) => {
    if (!restricts(fields.whereClause)) scope.f.flags.add("update_without_where");
    visitFields(fields, scope, WRITE_FIELDS.UpdateStmt);
  },
  CopyStmt: (fields, scope) => {
    if (fields.is_program) scope.f.flags.add("copy_program");
    else if (typeof fields.filename === "string") scope.f.flags.add("copy_file");
    visitFields(fields, scope, fields.is_from ? ["relation"] : NO_FIELDS);
  },
  ExplainStmt: (fields, scope) => {
    if (explainAnalyzes(fields.options)) {
      visit(fields.query, scope, false); // it runs the statement: classify that
      return;
    }
    const planned = walkStatement(fields.query);
    const { f } = scope;
    for (const name of [...planned.reads, ...planned.writes]) f.reads.add(name);
    for (const name of planned.functions) f.functions.add(name);
    if (planned.flags.has("dangerous_function")) {
      f.flags.add("dangerous_function");
      f.readOnly = false;
    }
  },
  DoStmt: (fields, scope) => procedural(bodyExecutes(fields.args), scope),
  CreateFunctionStmt: (fields, scope) => procedural(bodyExecutes(fields.options), scope),
  VariableSetStmt: (fields, scope) => {
    const name = String(fields.name ?? "");
    if (name === "role") scope.f.flags.add("set_role");
    if (name === "session_authorization") scope.f.flags.add("set_session_authorization");
    if (GUARDED_SETTINGS.has(name)) scope.f.readOnly = false;
    visitFields(fields, scope);
  },
  // DISCARD ALL includes SET SESSION AUTHORIZATION DEFAULT and RESET ROLE.
  DiscardStmt: (fields, scope) => {
    if (fields.target === "DISCARD_ALL") {
      scope.f.flags.add("set_role");
      scope.f.flags.add("set_session_authorization");
      scope.f.readOnly = false;
    }
  },
  DropStmt: (fields, scope) => {
    const shape = DROPPED_RELATIONS[String(fields.removeType)];
    if (fields.removeType === "OBJECT_POLICY") scope.f.flags.add("privilege");
    if (shape && Array.isArray(fields.objects)) {
      for (const object of fields.objects) {
        const names = strings(unwrap(object)?.[1]?.items);
        const relation = shape === "owner" ? names.slice(0, -1) : names;
        if (relation.length > 0) scope.f.writes.add(relation.join("."));
      }
    }
    visitFields(fields, scope);
  },
  AlterTableStmt: (fields, scope) => {
    for (const cmd of Array.isArray(fields.cmds) ? fields.cmds : []) {
      const subtype = String(unwrap(cmd)?.[1]?.subtype);
      for (const flag of ALTER_TABLE_FLAGS[subtype] ?? []) scope.f.flags.add(flag);
    }
    visitFields(fields, scope, WRITE_FIELDS.AlterTableStmt);
  },
};

/** Procedural code is not parsed further (its flag is static); an EXECUTE in it is dynamic SQL. */
function procedural(executes: boolean, scope: Scope): void {
  scope.f.readOnly = false;
  if (executes) scope.f.flags.add("dynamic_sql");
}
