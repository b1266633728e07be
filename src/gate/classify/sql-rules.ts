/**
 * The data behind the SQL classifier: which parse-tree nodes mean what (functions are in
 * sql-functions.ts). The walker in sql-walk.ts only applies these tables.
 */
import type { SqlFlag } from "./sql.ts";

/** Statement kinds that by themselves change nothing; the statement is read-only only if nothing else says otherwise. */
export const READ_ONLY_KINDS: ReadonlySet<string> = new Set([
  "select",
  "show",
  "explain",
  "copy", // COPY … TO STDOUT; COPY FROM writes its target and file/program COPY is flagged
  "set", // except the settings in GUARDED_SETTINGS
  "reset",
  "begin",
  "commit",
  "rollback",
  "savepoint",
  "release",
  "rollback_to",
  "declare_cursor",
  "fetch",
  "move",
  "close",
  "deallocate",
  "discard", // DISCARD ALL is flagged: it resets the role
  "listen",
  "unlisten",
]);

/** Settings whose change undoes a read-only or identity guarantee: SET/RESET of them is never read-only. */
export const GUARDED_SETTINGS: ReadonlySet<string> = new Set([
  "role",
  "session_authorization",
  "default_transaction_read_only",
  "transaction_read_only",
  "session_replication_role",
]);

/** Kind names that the CamelCase → snake_case rule would get wrong or make unreadable. */
export const KIND_NAMES: Record<string, string> = {
  CreateStmt: "create_table",
  ViewStmt: "create_view",
  IndexStmt: "create_index",
  RuleStmt: "create_rule",
  CreateTrigStmt: "create_trigger",
  CreateSeqStmt: "create_sequence",
  AlterSeqStmt: "alter_sequence",
  CreatedbStmt: "create_database",
  DropdbStmt: "drop_database",
  CreatePLangStmt: "create_language",
  CompositeTypeStmt: "create_type",
  VariableShowStmt: "show",
  DeclareCursorStmt: "declare_cursor",
  ClosePortalStmt: "close",
  CheckPointStmt: "checkpoint",
  RefreshMatViewStmt: "refresh_materialized_view",
};

/** Which fields of a node hold relations it writes (everything else it names is read). */
export const WRITE_FIELDS: Record<string, readonly string[]> = {
  InsertStmt: ["relation"],
  UpdateStmt: ["relation"],
  DeleteStmt: ["relation"],
  MergeStmt: ["relation"],
  TruncateStmt: ["relations"],
  AlterTableStmt: ["relation"],
  CreateStmt: ["relation"],
  IntoClause: ["rel"],
  IndexStmt: ["relation"],
  RenameStmt: ["relation"],
  AlterObjectSchemaStmt: ["relation"],
  CreateTrigStmt: ["relation"],
  RuleStmt: ["relation"],
  ViewStmt: ["view"],
  CreateSeqStmt: ["sequence"],
  AlterSeqStmt: ["sequence"],
  CompositeTypeStmt: ["typevar"],
  VacuumStmt: ["rels"],
  VacuumRelation: ["relation"],
  ClusterStmt: ["relation"],
  ReindexStmt: ["relation"],
  RefreshMatViewStmt: ["relation"],
  CreatePolicyStmt: ["table"],
  AlterPolicyStmt: ["table"],
  PartitionCmd: ["name"],
  GrantStmt: ["objects"], // GRANT/REVOKE ON TABLE changes the table's ACL: counted like ALTER
};

/**
 * Fields whose value is a struct written inline (no `{Type: …}` wrapper): the type it has.
 * A Map, since field names such as `constructor` must not reach Object.prototype.
 */
export const INLINE_TYPES: ReadonlyMap<string, string> = new Map([
  ["larg", "SelectStmt"],
  ["rarg", "SelectStmt"],
  ["funccall", "FuncCall"],
  ["into", "IntoClause"],
  ["intoClause", "IntoClause"],
  ["withClause", "WithClause"],
  ["setstmt", "VariableSetStmt"],
  ["action", "GrantStmt"],
  ["base", "CreateStmt"],
]);

/** Fields holding statements stored for later (role settings, default privileges, rule actions), not run now. */
export const DEFERRED_FIELDS: ReadonlySet<string> = new Set(["setstmt", "action", "actions"]);

/** DROP … of these object types names relations; for triggers, policies and rules the last name is the object's own. */
export const DROPPED_RELATIONS: Record<string, "relation" | "owner"> = {
  OBJECT_TABLE: "relation",
  OBJECT_VIEW: "relation",
  OBJECT_MATVIEW: "relation",
  OBJECT_INDEX: "relation",
  OBJECT_SEQUENCE: "relation",
  OBJECT_FOREIGN_TABLE: "relation",
  OBJECT_TRIGGER: "owner",
  OBJECT_POLICY: "owner",
  OBJECT_RULE: "owner",
};

/** Flags by statement-node name prefix. */
export const PREFIX_FLAGS: ReadonlyArray<readonly [string, readonly SqlFlag[]]> = [
  ["Drop", ["drop", "ddl"]],
  ["Alter", ["alter", "ddl"]],
  ["Create", ["ddl"]],
];

/** Flags by statement-node name; the walker adds the ones that depend on the node's contents. */
export const STATEMENT_FLAGS: Record<string, readonly SqlFlag[]> = {
  TruncateStmt: ["truncate", "ddl"],
  RenameStmt: ["alter", "ddl"],
  IndexStmt: ["ddl"],
  ViewStmt: ["ddl"],
  RuleStmt: ["ddl"],
  DefineStmt: ["ddl"],
  CompositeTypeStmt: ["ddl"],
  CommentStmt: ["ddl"],
  SecLabelStmt: ["ddl"],
  ImportForeignSchemaStmt: ["ddl"],
  GrantStmt: ["privilege"],
  GrantRoleStmt: ["privilege"],
  CreateRoleStmt: ["privilege"],
  AlterRoleStmt: ["privilege"],
  AlterRoleSetStmt: ["privilege"],
  DropRoleStmt: ["privilege"],
  AlterDefaultPrivilegesStmt: ["privilege"],
  AlterOwnerStmt: ["privilege"],
  ReassignOwnedStmt: ["privilege", "ddl"],
  DropOwnedStmt: ["privilege"],
  CreatePolicyStmt: ["privilege"],
  AlterPolicyStmt: ["privilege"],
  DoStmt: ["do_block"],
  CreateFunctionStmt: ["do_block"],
  PrepareStmt: ["dynamic_sql"],
  ExecuteStmt: ["dynamic_sql"],
  TransactionStmt: ["transaction_control"],
};

/** ALTER TABLE sub-commands that destroy data or change who may see it. */
export const ALTER_TABLE_FLAGS: Record<string, readonly SqlFlag[]> = {
  AT_DropColumn: ["drop"],
  AT_ChangeOwner: ["privilege"],
  AT_EnableRowSecurity: ["privilege"],
  AT_DisableRowSecurity: ["privilege"],
  AT_ForceRowSecurity: ["privilege"],
  AT_NoForceRowSecurity: ["privilege"],
};

type Fields = Record<string, unknown>;

/** `OBJECT_MATVIEW` → `materialized_view`, `OBJECT_TABLE` → `table`. */
function objectName(objtype: unknown): string {
  const name = String(objtype ?? "OBJECT_TABLE")
    .replace(/^OBJECT_/, "")
    .toLowerCase();
  return name === "matview" ? "materialized_view" : name;
}

const TRANSACTION_KINDS: Record<string, string> = { start: "begin", prepare: "prepare_transaction" };

/** Kinds that depend on the node's fields. */
const KIND_BY_CONTENT: Record<string, (node: Fields) => string> = {
  SelectStmt: (n) => (n.intoClause ? "select_into" : "select"),
  GrantStmt: (n) => (n.is_grant ? "grant" : "revoke"),
  GrantRoleStmt: (n) => (n.is_grant ? "grant_role" : "revoke_role"),
  VariableSetStmt: (n) => (String(n.kind).startsWith("VAR_RESET") ? "reset" : "set"),
  TransactionStmt: (n) => {
    const kind = String(n.kind)
      .replace(/^TRANS_STMT_/, "")
      .toLowerCase();
    return TRANSACTION_KINDS[kind] ?? kind;
  },
  CreateTableAsStmt: (n) => (n.objtype === "OBJECT_MATVIEW" ? "create_materialized_view" : "create_table_as"),
  CreateFunctionStmt: (n) => (n.is_procedure ? "create_procedure" : "create_function"),
  DefineStmt: (n) => `create_${objectName(n.kind)}`, // CREATE AGGREGATE / OPERATOR / TYPE / …
  AlterTableStmt: (n) => `alter_${objectName(n.objtype)}`,
  VacuumStmt: (n) => (n.is_vacuumcmd ? "vacuum" : "analyze"),
  FetchStmt: (n) => (n.ismove ? "move" : "fetch"),
};

/** The readable kind of a statement node: SelectStmt → select, CreateRoleStmt → create_role. */
export function kindOf(type: string, node: Fields): string {
  const byContent = KIND_BY_CONTENT[type];
  if (byContent) return byContent(node);
  return (
    KIND_NAMES[type] ??
    type
      .replace(/Stmt$/, "")
      .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
      .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
      .toLowerCase()
  );
}
