import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { SluiceError } from "../errors.ts";
import type { NewEvent } from "../events/index.ts";
import { RETENTION_STREAM } from "../events/retention.ts";
import { startTsWorker } from "../runtime/ts-worker.ts";
import { type AppendRequest, appendRequest } from "./append-plan.ts";
import { reviveConflict } from "./conflict.ts";
import { GroupCommit } from "./group-commit.ts";
import { ChangeSignal } from "./live-subscription.ts";
import { EVENT_COLUMNS, PagedStore, rowToRaw, type StoredRow } from "./paged-store.ts";
import type { AppendOptions, AppendResult, RawEvent } from "./port.ts";
import type { RangeRemoval, RemovalFacts, RemovalRange } from "./removal.ts";
import { type RemovalMessage, SqliteCommits, type WriterReply } from "./sqlite-commits.ts";
import { sqliteRemovalFacts } from "./sqlite-removal.ts";
import { openSchema } from "./sqlite-schema.ts";

export interface SqliteStoreOptions {
  path: string;
  /** How often live subscriptions look for appends made by other processes. */
  pollMs?: number;
  /**
   * Where commits run. "thread" (default): a writer thread, so the event loop keeps serving
   * during fsync. "inline": on the event loop, which blocks for each fsync but saves the two
   * thread wake-ups per commit (lower latency when few sessions are active).
   */
  writer?: "thread" | "inline";
}

/** The embedded default: one SQLite file in WAL mode, writes group-committed on a writer thread. */
export class SqliteEventStore extends PagedStore {
  readonly kind = "sqlite" as const;
  protected readonly signal = new ChangeSignal();
  protected readonly pollMs: number;
  private readonly commits: GroupCommit<AppendRequest, AppendResult>;
  private readonly reader: Database.Database;
  private readonly writer: Worker | SqliteCommits;
  private readonly waiting = new Map<number, (message: WriterMessage) => void>();
  private nextMessageId = 1;
  private failure: SluiceError | null = null;
  private closed = false;

  private readonly selectAll;
  private readonly selectForwards;
  private readonly selectBackwards;
  private readonly selectHead;

  private constructor(reader: Database.Database, writer: Worker | SqliteCommits, pollMs: number) {
    super();
    this.reader = reader;
    this.writer = writer;
    this.pollMs = pollMs;
    this.selectAll = reader.prepare<[bigint, number], StoredRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`,
    );
    this.selectForwards = reader.prepare<[string, bigint, number], StoredRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?`,
    );
    this.selectBackwards = reader.prepare<[string, bigint, number], StoredRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`,
    );
    this.selectHead = reader.prepare<[], { head: bigint | null }>("SELECT max(position) AS head FROM events");
    // Two batches in flight: while one fsyncs on the writer thread, the event loop prepares
    // the next. Batches of at most 32 split a crowd of writers across both (measured best).
    this.commits = new GroupCommit((requests) => this.commit(requests), { depth: 2, maxBatch: 32 });
    if (writer instanceof SqliteCommits) return;
    writer.on("message", (message: WriterMessage) => {
      if (message.id !== undefined) this.waiting.get(message.id)?.(message);
    });
    writer.on("error", (error) => this.fail(`SQLite writer thread failed: ${error.message}`));
    writer.on("exit", (code) => {
      if (!this.closed) this.fail(`SQLite writer thread exited with code ${code}`);
    });
  }

  static async open(options: SqliteStoreOptions): Promise<SqliteEventStore> {
    mkdirSync(dirname(options.path), { recursive: true });
    const reader = new Database(options.path);
    openSchema(reader);
    if (options.writer === "inline") {
      try {
        return new SqliteEventStore(reader, new SqliteCommits(options.path), options.pollMs ?? 200);
      } catch (error) {
        reader.close();
        throw new SluiceError(
          "STORE_UNAVAILABLE",
          `cannot open SQLite store at ${options.path}: ${(error as Error).message}`,
        );
      }
    }
    const writer = startTsWorker(new URL("./sqlite-writer.ts", import.meta.url), {
      workerData: { path: options.path },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        writer.once("message", () => resolve());
        writer.once("error", reject);
        writer.once("exit", (code) => reject(new Error(`writer thread exited with code ${code}`)));
      });
    } catch (error) {
      reader.close();
      throw new SluiceError(
        "STORE_UNAVAILABLE",
        `cannot open SQLite store at ${options.path}: ${(error as Error).message}`,
      );
    }
    return new SqliteEventStore(reader, writer, options.pollMs ?? 200);
  }

  append(stream: string, events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new SluiceError("STORE_CLOSED", "the event store is closed"));
    if (this.failure) return Promise.reject(this.failure);
    return this.commits.submit(appendRequest(stream, events, options.expectedRevision ?? "any"));
  }

  async removalFacts(range: RemovalRange): Promise<RemovalFacts> {
    return sqliteRemovalFacts(this.reader, range);
  }

  async removeRange(removal: RangeRemoval): Promise<AppendResult> {
    if (this.closed) throw new SluiceError("STORE_CLOSED", "the event store is closed");
    if (this.failure) throw this.failure;
    const request = appendRequest(RETENTION_STREAM, [removal.event], removal.expectedRevision);
    const message = await this.request({ remove: { range: removal.range, facts: removal.facts, request } });
    const reply = message.removal;
    if (!reply) throw message.error ?? this.unavailable();
    this.notifyAll();
    if (reply.ok) return { nextExpectedRevision: reply.nextExpectedRevision, position: reply.position };
    if (reply.error.code === "WRONG_EXPECTED_REVISION" && reply.error.details.stream)
      throw reviveConflict(reply.error.details);
    throw new SluiceError(reply.error.code, reply.error.message, reply.error.details);
  }

  async headPosition(): Promise<bigint> {
    return this.selectHead.get()?.head ?? 0n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.commits.flush();
    this.closed = true;
    if (this.writer instanceof SqliteCommits) this.writer.close();
    else {
      if (!this.failure) await this.request({ close: true });
      await this.writer.terminate();
    }
    this.reader.close();
    this.notifyAll();
  }

  protected async readAllPage(after: bigint, limit: number): Promise<RawEvent[]> {
    return this.selectAll.all(after, limit).map(rowToRaw);
  }

  protected async readStreamPage(
    stream: string,
    from: bigint,
    limit: number,
    direction: "forwards" | "backwards",
  ): Promise<RawEvent[]> {
    const statement = direction === "forwards" ? this.selectForwards : this.selectBackwards;
    return statement.all(stream, from, limit).map(rowToRaw);
  }

  private async commit(requests: AppendRequest[]): Promise<(AppendResult | Error)[]> {
    if (this.failure) return requests.map(() => this.failure as SluiceError);
    const message = await this.request({ requests });
    if (message.error || !message.replies) return requests.map(() => message.error ?? this.unavailable());
    this.notifyAppended(requests.map((r) => r.stream));
    return message.replies.map((reply) => {
      if (reply.ok) return { nextExpectedRevision: reply.nextExpectedRevision, position: reply.position };
      if (reply.error.code === "WRONG_EXPECTED_REVISION") return reviveConflict(reply.error.details);
      return new SluiceError(reply.error.code, reply.error.message, reply.error.details);
    });
  }

  private request(body: {
    requests?: AppendRequest[];
    remove?: RemovalMessage;
    close?: true;
  }): Promise<WriterMessage> {
    const id = this.nextMessageId++;
    const writer = this.writer;
    if (writer instanceof SqliteCommits) {
      if (body.remove) return Promise.resolve({ id, removal: writer.removeRange(body.remove) });
      return Promise.resolve({ id, replies: writer.commit(body.requests ?? []) });
    }
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.waiting.set(id, (message) => {
        this.waiting.delete(id);
        resolve(message);
      });
      writer.postMessage({ id, ...body });
    });
  }

  private unavailable(): SluiceError {
    return this.failure ?? new SluiceError("STORE_UNAVAILABLE", "the SQLite writer gave no reply");
  }

  /** Fail closed: once the writer is gone no append can be acknowledged. */
  private fail(message: string): void {
    this.failure ??= new SluiceError("STORE_UNAVAILABLE", message);
    for (const [, resolve] of this.waiting) resolve({ id: -1, replies: undefined, error: this.failure });
    this.waiting.clear();
  }
}

interface WriterMessage {
  id?: number;
  replies?: WriterReply[];
  removal?: WriterReply;
  closed?: true;
  error?: SluiceError;
}
