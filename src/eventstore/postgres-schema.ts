import type pg from "pg";
import { SluiceError } from "../errors.ts";

/**
 * Tables of the PostgreSQL store. `head` holds the last position; locking its one row
 * serialises committers of every gateway instance, so positions become visible in order
 * and a reader that reads "after N" never skips an event that commits later.
 */
export function schemaSql(schema: string): string {
  return `
CREATE SCHEMA IF NOT EXISTS ${schema};
CREATE TABLE IF NOT EXISTS ${schema}.events (
  position bigint PRIMARY KEY,
  stream   text   NOT NULL,
  revision bigint NOT NULL,
  id       uuid   NOT NULL UNIQUE,
  type     text   NOT NULL,
  data     text   NOT NULL,
  metadata text   NOT NULL,
  hash     text   NOT NULL,
  UNIQUE (stream, revision)
);
CREATE TABLE IF NOT EXISTS ${schema}.head (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  position  bigint  NOT NULL
);
INSERT INTO ${schema}.head (position) VALUES (0) ON CONFLICT DO NOTHING;`;
}

export function checkSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new SluiceError("CONFIG_INVALID", `store.schema "${schema}" must be a lower-case SQL identifier`);
  }
  return schema;
}

/** Creates the tables once, even when several instances start at the same moment. */
export async function ensureSchema(client: pg.PoolClient, schema: string): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`sluice-schema-${schema}`]);
    await client.query(schemaSql(schema));
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}
