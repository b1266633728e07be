/** Functions the classifier knows by name: what calling them means for policy. */

/**
 * Functions that reach outside the database's data: server files, other servers, other
 * sessions, server configuration, replication. Calling one sets `dangerous_function` and
 * makes a statement not read-only. Matched on the function's own name whatever schema it is
 * qualified with (`pg_catalog.pg_read_file`, `public.pg_read_file`) and case-insensitively,
 * so a look-alike in another schema is flagged too. A `*` matches any run of characters.
 * `current_setting` is deliberately absent: it only reads a setting and RLS policies use it.
 */
export const DANGEROUS_FUNCTIONS: readonly string[] = [
  // server files and directories
  "pg_read_file",
  "pg_read_binary_file",
  "pg_stat_file",
  "pg_ls_*",
  "pg_file_*",
  "pg_logdir_ls",
  "lo_import",
  "lo_export",
  // other servers, and SQL or relation names hidden in a string argument
  "dblink*",
  "query_to_xml*",
  "table_to_xml*",
  "schema_to_xml*",
  "database_to_xml*",
  "ts_stat",
  "ts_rewrite",
  "crosstab*",
  "connectby",
  "xpath_table",
  // other sessions, server configuration and processes
  "set_config",
  "pg_terminate_backend",
  "pg_cancel_backend",
  "pg_reload_conf",
  "pg_rotate_logfile",
  "pg_log_backend_memory_contexts",
  "pg_promote",
  "pg_switch_wal",
  "pg_create_restore_point",
  "pg_backup_start",
  "pg_backup_stop",
  "pg_start_backup",
  "pg_stop_backup",
  "pg_wal_replay_*",
  // replication slots and origins (logical decoding streams every change in the database)
  "pg_create_*_replication_slot",
  "pg_drop_replication_slot",
  "pg_copy_*_replication_slot",
  "pg_replication_slot_advance",
  "pg_logical_slot_*",
  "pg_replication_origin_*",
  "pg_logical_emit_message",
];

/** The subset of DANGEROUS_FUNCTIONS that runs SQL (or reads relations) named in a string: also `dynamic_sql`. */
export const DYNAMIC_SQL_FUNCTIONS: readonly string[] = [
  "dblink",
  "dblink_exec",
  "dblink_open",
  "dblink_send_query",
  "query_to_xml*",
  "table_to_xml*",
  "schema_to_xml*",
  "database_to_xml*",
  "ts_stat",
  "ts_rewrite",
  "crosstab*",
  "connectby",
  "xpath_table",
];

/** Functions that change state without being dangerous: no flag, but the statement is not read-only. */
export const SIDE_EFFECT_FUNCTIONS: readonly string[] = [
  "nextval",
  "setval",
  "pg_notify",
  "lo_creat",
  "lo_create",
  "lo_unlink",
  "lo_put",
  "lo_from_bytea",
  "lowrite",
  "lo_truncate*",
  "pg_advisory_*",
  "pg_try_advisory_*",
  "pg_stat_reset*",
];

/** A matcher for a list of names where a `*` matches any run of characters. */
function nameMatcher(patterns: readonly string[]): (name: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.includes("*")));
  const globs = patterns
    .filter((p) => p.includes("*"))
    .map((p) => new RegExp(`^${p.replaceAll("*", ".*")}$`));
  return (name) => exact.has(name) || globs.some((g) => g.test(name));
}

export const isDangerousFunction = nameMatcher(DANGEROUS_FUNCTIONS);
export const isDynamicSqlFunction = nameMatcher(DYNAMIC_SQL_FUNCTIONS);
export const hasSideEffects = nameMatcher(SIDE_EFFECT_FUNCTIONS);
