/**
 * The search_path a session resolves unqualified relation and function names with. The proxy
 * cannot read the agent session's setting (ParameterStatus does not report it), so it passes
 * what it knows (the role's default, or what the agent SET through the gateway).
 */

export const DEFAULT_SEARCH_PATH = '"$user", public';

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

/**
 * The schemas searched, in order: pg_catalog first unless the setting places it. pg_temp is
 * left out: which temporary schema is the agent's cannot be known here, so PgCatalog reports
 * a name any temporary relation also has as `shadowed` instead.
 */
export function effectivePath(schemas: readonly string[]): string[] {
  const path = schemas.filter((s) => s !== "pg_temp");
  return path.includes("pg_catalog") ? path : ["pg_catalog", ...path];
}
