/**
 * The search_path a session resolves unqualified relation and function names with. The proxy
 * reads the agent session's real setting from the upstream (see search-path-probe.ts) and
 * passes it, `"$user"` resolved; while it is not known it passes UNKNOWN_SEARCH_PATH.
 */

export const DEFAULT_SEARCH_PATH = '"$user", public';

/**
 * A search_path that resolves no unqualified relation name (and counts any function that
 * exists outside pg_catalog as possibly the one called): the session's path is not known, so
 * lineage says unknown and the masking profile masks or denies. No real setting has a NUL.
 */
export const UNKNOWN_SEARCH_PATH = "\0unknown";

/** The schemas of a search_path setting, in order: quoted names kept, others lower-cased, `$user` replaced. */
export function searchPathSchemas(setting: string, user?: string): string[] {
  const schemas: string[] = [];
  for (const match of setting.matchAll(/\s*(?:"((?:[^"]|"")*)"|([^,\s]+))\s*(?:,|$)/g)) {
    const quoted = match[1];
    const name = quoted !== undefined ? quoted.replaceAll('""', '"') : (match[2] ?? "").toLowerCase();
    if (name === "$user") {
      if (user) schemas.push(user);
    } else if (name !== "") schemas.push(name);
  }
  return schemas;
}

/** A setting naming exactly these schemas (each quoted), which searchPathSchemas reads back unchanged. */
export function searchPathSetting(schemas: readonly string[]): string {
  return schemas.map((s) => `"${s.replaceAll('"', '""')}"`).join(", ");
}

/**
 * The schemas searched, in order: pg_catalog first unless the setting places it. pg_temp is
 * left out: which temporary schema is the agent's cannot be known here, so PgCatalog reports
 * a name any temporary relation also has as `shadowed` instead.
 */
export function effectivePath(schemas: readonly string[]): string[] {
  const path = schemas.filter((s) => s !== "pg_temp");
  return path.includes("pg_catalog") ? path : ["pg_catalog", ...path];
}
