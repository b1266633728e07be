/**
 * What a function call means for lineage. A built-in function (in pg_catalog) computes its
 * result from its arguments only, so the result carries the arguments' columns. Any other
 * function's body is invisible here and may read any table: its result is "opaque" (unknown
 * lineage that may carry anything). A few built-ins also read data named in a string or
 * outside the query (query_to_xml, logical decoding, files): opaque too.
 */
import { DYNAMIC_SQL_FUNCTIONS } from "../../../gate/classify/sql.ts";

export type FunctionKind = "builtin" | "user";

/** Built-ins whose result holds data the arguments do not name. `*` matches any run of characters. */
const DATA_READING: readonly string[] = [
  ...DYNAMIC_SQL_FUNCTIONS,
  "cursor_to_xml*",
  "pg_read_file",
  "pg_read_binary_file",
  "lo_get",
  "loread",
  "pg_logical_slot_*",
  "pg_stat_get_activity",
  "pg_get_replication_slots",
  "current_query",
];

const dataReadingExact = new Set(DATA_READING.filter((p) => !p.includes("*")));
const dataReadingGlobs = DATA_READING.filter((p) => p.includes("*")).map(
  (p) => new RegExp(`^${p.replaceAll("*", ".*")}$`),
);

export function readsHiddenData(name: string): boolean {
  return dataReadingExact.has(name) || dataReadingGlobs.some((g) => g.test(name));
}

/** Aggregates whose result is a count of rows, never a column's value. */
export const COUNTING = new Set(["count"]);

/**
 * Common pg_catalog functions, for catalogs that cannot say which functions are built in
 * (PgCatalog can, from pg_proc). A name missing here is treated as opaque: safe, if coarse.
 */
const COMMON_BUILTINS = `
abs ceil ceiling floor round trunc mod power sqrt exp ln log sign random div width_bucket
upper lower initcap length char_length octet_length bit_length substring substr left right
trim btrim ltrim rtrim lpad rpad replace translate reverse repeat concat concat_ws format
position strpos split_part overlay md5 sha224 sha256 sha384 sha512 encode decode convert_to
convert_from quote_ident quote_literal quote_nullable ascii chr starts_with regexp_replace
regexp_match regexp_matches regexp_split_to_array regexp_split_to_table regexp_substr
regexp_count regexp_instr regexp_like string_to_array string_to_table array_to_string
to_char to_number to_date to_timestamp to_hex now clock_timestamp statement_timestamp
transaction_timestamp timeofday date_part date_trunc date_bin extract age make_date
make_time make_timestamp make_timestamptz make_interval justify_days justify_hours
justify_interval isfinite timezone coalesce nullif greatest least
count sum avg min max bool_and bool_or every bit_and bit_or bit_xor string_agg array_agg
json_agg jsonb_agg json_object_agg jsonb_object_agg json_agg_strict jsonb_agg_strict
json_object_agg_strict jsonb_object_agg_strict json_object_agg_unique jsonb_object_agg_unique
xmlagg stddev stddev_pop stddev_samp variance var_pop var_samp mode percentile_cont
percentile_disc rank dense_rank percent_rank cume_dist row_number ntile lag lead
first_value last_value nth_value any_value
to_json to_jsonb row_to_json array_to_json json_build_object jsonb_build_object
json_build_array jsonb_build_array json_object jsonb_object json_array_elements
jsonb_array_elements json_array_elements_text jsonb_array_elements_text json_each jsonb_each
json_each_text jsonb_each_text json_extract_path jsonb_extract_path json_extract_path_text
jsonb_extract_path_text json_object_keys jsonb_object_keys json_populate_record
jsonb_populate_record json_populate_recordset jsonb_populate_recordset json_to_record
jsonb_to_record json_to_recordset jsonb_to_recordset json_strip_nulls jsonb_strip_nulls
jsonb_set jsonb_set_lax jsonb_insert jsonb_pretty json_typeof jsonb_typeof
json_array_length jsonb_array_length jsonb_path_query jsonb_path_query_array
jsonb_path_query_first jsonb_path_exists jsonb_path_match
array_append array_prepend array_cat array_length array_lower array_upper array_ndims
array_dims array_position array_positions array_remove array_replace array_fill
cardinality unnest generate_series generate_subscripts trim_array array_sample array_shuffle
xmlelement xmlforest xmlconcat xmlroot xmlcomment xmlpi xmlparse xmlserialize xpath
xpath_exists xmltext
text bool int2 int4 int8 float4 float8 numeric varchar bpchar
current_database current_schema current_schemas current_user session_user user version
pg_typeof gen_random_uuid inet_client_addr pg_backend_pid txid_current
`;

export const BUILTIN_NAMES: ReadonlySet<string> = new Set(COMMON_BUILTINS.split(/\s+/).filter(Boolean));

/**
 * Set-returning built-ins whose output columns are known without a column definition list.
 * Value: the output column names ("" = named after the function or its alias).
 */
export const KNOWN_SRF_COLUMNS: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
  ["json_each", ["key", "value"]],
  ["jsonb_each", ["key", "value"]],
  ["json_each_text", ["key", "value"]],
  ["jsonb_each_text", ["key", "value"]],
  ...[
    "generate_series",
    "generate_subscripts",
    "regexp_split_to_table",
    "regexp_matches",
    "string_to_table",
    "json_array_elements",
    "jsonb_array_elements",
    "json_array_elements_text",
    "jsonb_array_elements_text",
    "json_object_keys",
    "jsonb_object_keys",
    "jsonb_path_query",
  ].map((name) => [name, [""]] as const),
]);
