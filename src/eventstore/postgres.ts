import pg from "pg";
import { SluiceError } from "../errors.ts";
import type { NewEvent } from "../events/index.ts";
import {
  type AppendRequest,
  appendRequest,
  type EventRow,
  planAppend,
  type StreamHead,
} from "./append-plan.ts";
import { GroupCommit } from "./group-commit.ts";
import { ChangeSignal } from "./live-subscription.ts";
import { EVENT_COLUMNS, PagedStore, rowToRaw, type StoredRow } from "./paged-store.ts";
import type { AppendOptions, AppendResult, RawEvent } from "./port.ts";
import { postgresRemovalFacts, postgresRemoveRange } from "./postgres-removal.ts";
import { checkSchemaName, ensureSchema } from "./postgres-schema.ts";
import type { RangeRemoval, RemovalFacts, RemovalRange } from "./removal.ts";

export interface PostgresStoreOptions {
  connectionString: string;
  schema?: string;
  /** Fallback poll for live subscriptions when a notification is missed. */
  pollMs?: number;
  poolSize?: number;
}

/** The store for several gateway instances: one PostgreSQL database, group-committed appends. */
export class PostgresEventStore extends PagedStore {
  readonly kind = "postgres" as const;
  protected readonly signal = new ChangeSignal();
  protected readonly pollMs: number;
  private readonly commits = new GroupCommit<AppendRequest, AppendResult>((requests) =>
    this.commit(requests),
  );
  private readonly channel: string;
  private listener: pg.Client | null = null;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly options: PostgresStoreOptions,
  ) {
    super();
    this.pollMs = options.pollMs ?? 500;
    this.channel = `${schema}_events`;
  }

  static async open(options: PostgresStoreOptions): Promise<PostgresEventStore> {
    const schema = checkSchemaName(options.schema ?? "sluice");
    const pool = new pg.Pool({ connectionString: options.connectionString, max: options.poolSize ?? 4 });
    // An idle client losing its connection must not crash the gateway; the next query reconnects.
    pool.on("error", () => {});
    try {
      const client = await pool.connect();
      try {
        await ensureSchema(client, schema);
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => {});
      throw unavailable("cannot open the PostgreSQL store", error);
    }
    const store = new PostgresEventStore(pool, schema, options);
    await store.listen();
    return store;
  }

  append(stream: string, events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new SluiceError("STORE_CLOSED", "the event store is closed"));
    return this.commits.submit(appendRequest(stream, events, options.expectedRevision ?? "any"));
  }

  async removalFacts(range: RemovalRange): Promise<RemovalFacts> {
    return postgresRemovalFacts(this.pool, this.schema, range).catch((error) => {
      throw asStoreError(error);
    });
  }

  async removeRange(removal: RangeRemoval): Promise<AppendResult> {
    if (this.closed) throw new SluiceError("STORE_CLOSED", "the event store is closed");
    await this.commits.flush();
    const result = await postgresRemoveRange(this.pool, this.schema, this.channel, removal).catch((error) => {
      throw asStoreError(error);
    });
    this.notifyAll();
    return result;
  }

  async headPosition(): Promise<bigint> {
    const result = await this.query<{ position: string }>(`SELECT position FROM ${this.schema}.head`);
    return BigInt(result.rows[0]?.position ?? "0");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.commits.flush();
    this.closed = true;
    this.notifyAll();
    await this.listener?.end().catch(() => {});
    await this.pool.end();
  }

  protected async readAllPage(after: bigint, limit: number): Promise<RawEvent[]> {
    const result = await this.query<StoredRow>(
      `SELECT ${EVENT_COLUMNS} FROM ${this.schema}.events WHERE position > $1 ORDER BY position LIMIT $2`,
      [after.toString(), limit],
    );
    return result.rows.map(rowToRaw);
  }

  protected async readStreamPage(
    stream: string,
    from: bigint,
    limit: number,
    direction: "forwards" | "backwards",
  ): Promise<RawEvent[]> {
    const [op, order] = direction === "forwards" ? [">=", "ASC"] : ["<=", "DESC"];
    const result = await this.query<StoredRow>(
      `SELECT ${EVENT_COLUMNS} FROM ${this.schema}.events WHERE stream = $1 AND revision ${op} $2 ORDER BY revision ${order} LIMIT $3`,
      [stream, from.toString(), limit],
    );
    return result.rows.map(rowToRaw);
  }

  /** One transaction per batch; if it fails as a whole, each append is retried alone so only the bad one fails. */
  private async commit(requests: AppendRequest[]): Promise<(AppendResult | Error)[]> {
    try {
      return await this.transaction(requests);
    } catch (error) {
      if (requests.length === 1 || isConnectionError(error)) return requests.map(() => asStoreError(error));
      const results: (AppendResult | Error)[] = [];
      for (const request of requests) {
        results.push(
          await this.transaction([request]).then((r) => r[0] as AppendResult | Error, asStoreError),
        );
      }
      return results;
    }
  }

  private async transaction(requests: AppendRequest[]): Promise<(AppendResult | Error)[]> {
    const client = await this.pool.connect().catch((error) => {
      throw unavailable("cannot reach the PostgreSQL store", error);
    });
    let broken: unknown;
    try {
      // Four round trips per batch: lock the head, read stream heads, write, commit.
      const [, head] = (await client.query(
        `BEGIN; SELECT position FROM ${this.schema}.head FOR UPDATE`,
      )) as unknown as pg.QueryResult<{ position: string }>[];
      let position = BigInt(head?.rows[0]?.position ?? "0");
      const heads = await this.streamHeads(client, [...new Set(requests.map((r) => r.stream))]);
      const rows: EventRow[] = [];
      const positions: string[] = [];
      const results = requests.map((request): AppendResult | Error => {
        const planned = planAppend(request, heads.get(request.stream));
        if (planned instanceof Error) return planned;
        for (const row of planned) {
          rows.push(row);
          positions.push((++position).toString());
        }
        const last = planned[planned.length - 1] as EventRow;
        heads.set(request.stream, { revision: last.revision, hash: last.hash });
        return { nextExpectedRevision: last.revision, position };
      });
      if (rows.length > 0) {
        await client.query(
          `WITH inserted AS (
             INSERT INTO ${this.schema}.events (position, stream, revision, id, type, data, metadata, hash)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[])
           ), moved AS (UPDATE ${this.schema}.head SET position = $9)
           SELECT pg_notify($10, $9::text)`,
          [
            positions,
            rows.map((r) => r.stream),
            rows.map((r) => r.revision.toString()),
            rows.map((r) => r.id),
            rows.map((r) => r.type),
            rows.map((r) => r.data),
            rows.map((r) => r.metadata),
            rows.map((r) => r.hash),
            position.toString(),
            this.channel,
          ],
        );
      }
      await client.query("COMMIT");
      this.notifyAll();
      return results;
    } catch (error) {
      broken = error;
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release(isConnectionError(broken) ? (broken as Error) : undefined);
    }
  }

  private async streamHeads(client: pg.PoolClient, streams: string[]): Promise<Map<string, StreamHead>> {
    const result = await client.query<{ stream: string; revision: string; hash: string }>(
      `SELECT s.stream, e.revision, e.hash FROM unnest($1::text[]) AS s(stream)
       CROSS JOIN LATERAL (SELECT revision, hash FROM ${this.schema}.events
                           WHERE stream = s.stream ORDER BY revision DESC LIMIT 1) e`,
      [streams],
    );
    return new Map(result.rows.map((r) => [r.stream, { revision: BigInt(r.revision), hash: r.hash }]));
  }

  private async query<R extends pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (error) {
      throw asStoreError(error);
    }
  }

  /** LISTEN wakes live subscriptions at once; polling covers the gaps while it reconnects. */
  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.options.connectionString });
    const retry = () => {
      if (this.listener === client) this.listener = null;
      client.end().catch(() => {});
      if (!this.closed) setTimeout(() => void this.listen(), this.pollMs).unref();
    };
    client.on("error", retry);
    client.on("notification", () => this.notifyAll());
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
      this.listener = client;
      this.notifyAll();
    } catch {
      retry();
    }
  }
}

function isConnectionError(error: unknown): boolean {
  if (error instanceof SluiceError) return error.code === "STORE_UNAVAILABLE";
  const code = (error as { code?: string } | undefined)?.code ?? "";
  return /^(ECONN|EPIPE|ETIMEDOUT|57P0|08)/.test(code) || /terminat|Connection/i.test(String(error));
}

function asStoreError(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  if (isConnectionError(error)) return unavailable("the PostgreSQL store is unreachable", error);
  return new SluiceError("EVENT_INVALID", `append refused by PostgreSQL: ${(error as Error).message}`);
}

function unavailable(message: string, cause: unknown): SluiceError {
  return new SluiceError("STORE_UNAVAILABLE", `${message}: ${(cause as Error).message}`, {}, { cause });
}
