import type pg from "pg";
import { SluiceError } from "../errors.ts";
import { RETENTION_STREAM } from "../events/retention.ts";
import { appendRequest, type EventRow, planAppend } from "./append-plan.ts";
import type { AppendResult } from "./port.ts";
import {
  type RangeRemoval,
  REMOVAL_SQL,
  type RemovalFacts,
  type RemovalRange,
  removalFacts,
  sameFacts,
} from "./removal.ts";

/** Retention on PostgreSQL: facts, and the removal in one transaction under the head lock. */

/** The shared SQL with this schema's table and numbered placeholders. */
function sql(text: string, schema: string): string {
  let n = 0;
  return text.replace(/\b(FROM|JOIN) events\b/g, `$1 ${schema}.events`).replace(/\?/g, () => `$${++n}`);
}

type Queryable = Pick<pg.PoolClient, "query">;

export async function postgresRemovalFacts(
  db: Queryable,
  schema: string,
  range: RemovalRange,
): Promise<RemovalFacts> {
  const bounds = [range.after.toString(), range.to.toString()];
  const removed = await db.query<{ n: string }>(sql(REMOVAL_SQL.removed, schema), bounds);
  const kept = await db.query<{ hash: string }>(sql(REMOVAL_SQL.kept, schema), bounds);
  const carried = await db.query<{ stream: string; revision: string; hash: string }>(
    sql(REMOVAL_SQL.carried, schema),
    bounds,
  );
  return removalFacts(
    Number(removed.rows[0]?.n ?? 0),
    kept.rows.map((r) => r.hash),
    carried.rows,
  );
}

export async function postgresRemoveRange(
  pool: pg.Pool,
  schema: string,
  channel: string,
  removal: RangeRemoval,
): Promise<AppendResult> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const head = await client.query<{ position: string }>(`SELECT position FROM ${schema}.head FOR UPDATE`);
    // The facts were signed into the removal event: if an append changed them since, nothing is removed.
    if (!sameFacts(await postgresRemovalFacts(client, schema, removal.range), removal.facts)) {
      throw new SluiceError("WRONG_EXPECTED_REVISION", "the range changed since its removal was planned");
    }
    const bounds = [removal.range.after.toString(), removal.range.to.toString()];
    await client.query(sql(REMOVAL_SQL.delete, schema), bounds);
    const last = await client.query<{ revision: string; hash: string }>(
      `SELECT revision, hash FROM ${schema}.events WHERE stream = $1 ORDER BY revision DESC LIMIT 1`,
      [RETENTION_STREAM],
    );
    const streamHead = last.rows[0]
      ? { revision: BigInt(last.rows[0].revision), hash: last.rows[0].hash }
      : undefined;
    const planned = planAppend(
      appendRequest(RETENTION_STREAM, [removal.event], removal.expectedRevision),
      streamHead,
    );
    if (planned instanceof Error) throw planned;
    const row = planned[0] as EventRow;
    const position = BigInt(head.rows[0]?.position ?? "0") + 1n;
    await client.query(
      `INSERT INTO ${schema}.events (position, stream, revision, id, type, data, metadata, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        position.toString(),
        row.stream,
        row.revision.toString(),
        row.id,
        row.type,
        row.data,
        row.metadata,
        row.hash,
      ],
    );
    await client.query(`UPDATE ${schema}.head SET position = $1`, [position.toString()]);
    await client.query("SELECT pg_notify($1, $2)", [channel, position.toString()]);
    await client.query("COMMIT");
    return { nextExpectedRevision: row.revision, position };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
