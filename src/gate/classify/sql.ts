/**
 * PostgreSQL statement classifier: parses with the real PostgreSQL 17 parser (libpg-query)
 * and reduces each statement to what policy matches on — kinds, relations read and written,
 * functions called, risk flags, and whether the whole text only reads. Text that does not
 * parse is `parsed: false` (policy denies it by default); classification never throws.
 * What counts as what is decided by the tables in sql-rules.ts and sql-functions.ts.
 */
import { loadModule } from "libpg-query";
import { LRUCache } from "lru-cache";
import { SluiceError } from "../../errors.ts";
import { memoByText } from "./memo.ts";
import { parseSql } from "./sql-parse.ts";
import { sqlShape } from "./sql-shape.ts";
import { type Findings, walkStatement } from "./sql-walk.ts";

export { DANGEROUS_FUNCTIONS, DYNAMIC_SQL_FUNCTIONS, SIDE_EFFECT_FUNCTIONS } from "./sql-functions.ts";

export type SqlFlag =
  | "drop"
  | "truncate"
  | "alter"
  | "delete_without_where"
  | "update_without_where"
  | "privilege"
  | "copy_program"
  | "copy_file"
  | "do_block"
  | "dynamic_sql"
  | "set_role"
  | "set_session_authorization"
  | "dangerous_function"
  | "multi_statement"
  | "transaction_control"
  | "ddl";

export interface SqlStatement {
  /** Lower-case statement kind: select, insert, create_table, alter_table, grant, set, begin, … */
  kind: string;
  /** Relations, schema-qualified when the SQL qualified them; unquoted names lower-case, quoted ones as written. */
  reads: string[];
  writes: string[];
  /** Functions called, lower-case, schema-qualified when written so. */
  functions: string[];
  flags: SqlFlag[];
  /** Kinds of statements nested in this one that run with it: CTE DML, EXPLAIN ANALYZE's and PREPARE's target. */
  innerKinds: string[];
  readOnly: boolean;
}

export interface SqlClassification {
  parsed: boolean;
  /** The parser's message when parsed is false. */
  error?: string;
  statements: SqlStatement[];
  /** Statement kinds and their inner kinds. */
  kinds: string[];
  reads: string[];
  writes: string[];
  relations: string[];
  functions: string[];
  /** Statement flags, plus multi_statement when the text holds more than one statement. */
  flags: SqlFlag[];
  readOnly: boolean;
}

export interface SqlClassifierOptions {
  /** Classifications kept, by exact text (default 10 000). */
  cacheSize?: number;
  /** Longer texts are classified every time rather than cached (default 16 KiB). */
  maxCachedLength?: number;
}

export interface SqlClassifier {
  /** Synchronous once initSqlClassifier() has resolved; results are frozen and shared. */
  classify(text: string): SqlClassification;
  readonly cached: number;
}

/** Flags that leave a statement read-only. */
const READ_ONLY_FLAGS: ReadonlySet<SqlFlag> = new Set(["transaction_control"]);

let loading: Promise<void> | undefined;
let ready = false;

/** Loads the WASM parser; call (and await) once at startup. */
export function initSqlClassifier(): Promise<void> {
  loading ??= loadModule().then(
    () => {
      ready = true;
    },
    (error: unknown) => {
      loading = undefined;
      throw error;
    },
  );
  return loading;
}

export function createSqlClassifier(options: SqlClassifierOptions = {}): SqlClassifier {
  const max = options.cacheSize ?? 10_000;
  const maxLength = options.maxCachedLength ?? 16_384;
  const exact = memoByText(classifyUncached, { max, maxLength });
  const byShape = max > 0 ? new LRUCache<string, SqlClassification>({ max }) : undefined;
  return {
    classify(text) {
      const shape = byShape && text.length <= maxLength ? sqlShape(text) : undefined;
      if (shape === undefined) return exact.classify(text);
      const hit = byShape?.get(shape);
      if (hit) return hit;
      const result = exact.classify(text);
      if (literalsIrrelevant(result)) byShape?.set(shape, result);
      return result;
    },
    get cached() {
      return exact.cached + (byShape?.size ?? 0);
    },
  };
}

const PLAIN_DML: ReadonlySet<string> = new Set(["select", "insert", "update", "delete"]);

/**
 * Whether no literal of the text could have changed its classification, so texts of the same
 * shape share it: plain DML only, and no set_config (whose setting name is a literal).
 * Statements such as SET, BEGIN … READ WRITE, EXPLAIN (ANALYZE false) or COPY read literals.
 */
function literalsIrrelevant(c: SqlClassification): boolean {
  return (
    c.parsed &&
    c.statements.length > 0 &&
    c.kinds.every((kind) => PLAIN_DML.has(kind)) &&
    !c.functions.some((f) => f === "set_config" || f.endsWith(".set_config"))
  );
}

const shared = createSqlClassifier();

export function classifySql(text: string): SqlClassification {
  return shared.classify(text);
}

function classifyUncached(text: string): SqlClassification {
  if (!ready) throw new SluiceError("INTERNAL", "initSqlClassifier() must complete before classifySql()");
  // The wire protocol ends a query at NUL; a parser given the whole string might see more or less.
  if (text.includes("\0")) return unparsed("statement text contains a NUL byte");
  if (/^[ \t\n\r\f\v]*$/.test(text)) return summarise([]); // PostgreSQL answers EmptyQueryResponse; the binding would throw
  let tree: { stmts?: Array<{ stmt?: unknown }> };
  try {
    tree = parseSql(text);
  } catch (error) {
    return unparsed(error instanceof Error ? error.message : String(error));
  }
  try {
    return summarise((tree.stmts ?? []).map((raw) => toStatement(walkStatement(raw.stmt))));
  } catch (error) {
    // e.g. a stack overflow on absurdly deep nesting: refuse rather than guess.
    return unparsed(`cannot classify: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function toStatement(f: Findings): SqlStatement {
  const flags = sorted(f.flags);
  return Object.freeze({
    kind: f.kind,
    reads: sorted(f.reads),
    writes: sorted(f.writes),
    functions: sorted(f.functions),
    flags,
    innerKinds: sorted(f.innerKinds),
    readOnly: f.readOnly && f.writes.size === 0 && flags.every((flag) => READ_ONLY_FLAGS.has(flag)),
  });
}

function summarise(statements: SqlStatement[]): SqlClassification {
  const union = (pick: (s: SqlStatement) => readonly string[]) => sorted(statements.flatMap(pick));
  const flags: SqlFlag[] = statements.flatMap((s) => s.flags);
  if (statements.length > 1) flags.push("multi_statement");
  const reads = union((s) => s.reads);
  const writes = union((s) => s.writes);
  return Object.freeze({
    parsed: true,
    statements: Object.freeze(statements) as SqlStatement[],
    kinds: union((s) => [s.kind, ...s.innerKinds]),
    reads,
    writes,
    relations: sorted([...reads, ...writes]),
    functions: union((s) => s.functions),
    flags: sorted(flags),
    readOnly: statements.every((s) => s.readOnly),
  });
}

function unparsed(error: string): SqlClassification {
  const none = Object.freeze([]) as never[];
  return Object.freeze({
    parsed: false,
    error,
    statements: none,
    kinds: none,
    reads: none,
    writes: none,
    relations: none,
    functions: none,
    flags: none,
    readOnly: false,
  });
}

/** De-duplicated, sorted, frozen. */
function sorted<T extends string>(values: Iterable<T>): T[] {
  return Object.freeze([...new Set(values)].sort()) as T[];
}
