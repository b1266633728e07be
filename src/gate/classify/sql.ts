/**
 * PostgreSQL statement classifier: parses with the real PostgreSQL 17 parser (libpg-query)
 * and reduces each statement to what policy matches on — kinds, relations read and written,
 * functions called, risk flags, and whether the whole text only reads. Text that does not
 * parse is `parsed: false` (policy denies it by default); classification never throws.
 * What counts as what is decided by the tables in sql-rules.ts and sql-functions.ts.
 */
import { loadModule } from "libpg-query";
import { SluiceError } from "../../errors.ts";
import { memoByText } from "./memo.ts";
import { parseSql } from "./sql-parse.ts";
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
  return memoByText(classifyUncached, { max: options.cacheSize, maxLength: options.maxCachedLength });
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
