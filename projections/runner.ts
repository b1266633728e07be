import type { EventStore, RecordedEvent, Subscription } from "../src/eventstore/port.ts";
import type { Logger } from "../src/log.ts";
import { Checkpoints, type ReadModelDb } from "./database.ts";
import type { Projection, ProjectionFold } from "./projection.ts";

/**
 * Folds $all into the read models. One subscription from the lowest checkpoint feeds every
 * projection; each skips what its checkpoint already covers. A batch of events and the
 * checkpoints it moves commit in one transaction, so a read model never disagrees with its
 * checkpoint. Checkpoints are re-read inside every transaction: a rebuild started by another
 * process (`sluice projections rebuild`) is noticed, and no event is applied twice.
 */

export interface ProjectionStatus {
  name: string;
  version: number;
  position: bigint;
  head: bigint;
  /** Positions behind the head of the log (events, on engines with gap-free positions). */
  lag: bigint;
  rebuiltAt: string;
}

export interface RunnerOptions {
  store: EventStore;
  db: ReadModelDb;
  projections: readonly Projection[];
  log?: Logger;
  /** Events per transaction at most; fewer when the log goes quiet. */
  maxBatch?: number;
}

const IDLE = Symbol("idle");

export class ProjectionRunner {
  readonly projections: readonly Projection[];
  private readonly checkpoints: Checkpoints;
  private readonly folds = new Map<string, ProjectionFold>();
  private readonly positions = new Map<string, bigint>();
  private readonly listeners = new Set<(events: readonly RecordedEvent[]) => void>();
  private waiters: { position: bigint; resolve: (reached: boolean) => void }[] = [];
  private subscription: Subscription<RecordedEvent> | null = null;
  private loop: Promise<void> | null = null;
  private stopped = false;
  private restart = false;
  private wake: (() => void) | null = null;
  private readonly commitBatch: (batch: readonly RecordedEvent[], cursor: bigint) => void;
  /** The last failure to project (the runner retries with backoff); null while healthy. */
  lastError: Error | null = null;
  /** Set once the read models reached the head of the log as it was at start. */
  caughtUp = false;

  constructor(private readonly options: RunnerOptions) {
    this.projections = options.projections;
    this.checkpoints = new Checkpoints(options.db);
    this.commitBatch = options.db.transaction((batch, cursor) => this.applyBatch(batch, cursor)).immediate;
  }

  /** Brings every read model to its version (rebuilding those that changed), then follows the log. */
  async start(): Promise<void> {
    this.prepareAll();
    const head = await this.options.store.headPosition();
    void this.waitFor(head, Number.POSITIVE_INFINITY).then((reached) => {
      if (reached) this.caughtUp = true;
    });
    this.loop = this.run();
  }

  /** Runs until every read model has reached the head of the log as it is now. */
  async catchUp(): Promise<void> {
    if (!this.loop) await this.start();
    await this.waitFor(await this.options.store.headPosition(), Number.POSITIVE_INFINITY);
  }

  /** Drops the named read models (default: all) and folds them again from the start of the log. */
  async rebuild(names?: string[]): Promise<void> {
    const chosen = this.projections.filter((p) => !names || names.includes(p.name));
    for (const projection of chosen) {
      this.checkpoints.ensure(projection, true);
      this.folds.set(projection.name, projection.prepare(this.options.db));
      this.positions.set(projection.name, 0n);
    }
    this.options.log?.info({ projections: chosen.map((p) => p.name) }, "rebuilding read models");
    this.requestRestart();
    if (this.loop) await this.waitFor(await this.options.store.headPosition(), Number.POSITIVE_INFINITY);
  }

  /** Resolves true once every read model has folded `position`, false after `timeoutMs`. */
  waitFor(position: bigint, timeoutMs: number): Promise<boolean> {
    if (this.lowest() >= position) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { position, resolve };
      this.waiters.push(waiter);
      if (Number.isFinite(timeoutMs)) {
        setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs).unref();
      }
    });
  }

  /** Called after each committed batch: what was just folded is visible to readers. */
  onCommit(listener: (events: readonly RecordedEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  position(name: string): bigint {
    return this.positions.get(name) ?? 0n;
  }

  async status(): Promise<ProjectionStatus[]> {
    return projectionStatus(this.options.db, this.options.store, this.projections);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.subscription?.close();
    await this.loop;
    for (const waiter of this.waiters) waiter.resolve(false);
    this.waiters = [];
  }

  private async run(): Promise<void> {
    let backoff = 0;
    while (!this.stopped) {
      try {
        if (this.restart) this.prepareAll();
        this.restart = false;
        await this.consume(this.lowest());
        backoff = 0;
      } catch (error) {
        this.lastError = error as Error;
        this.restart = true;
        backoff = Math.min(30_000, Math.max(250, backoff * 2));
        this.options.log?.error({ err: error, retryInMs: backoff }, "projection failed; retrying");
        await this.sleep(backoff);
      }
    }
  }

  /**
   * Catch-up reads whole pages; live, a batch commits when full or when the subscription has
   * nothing more right now (so a quiet log is visible at once, a busy one in few transactions).
   */
  private async consume(from: bigint): Promise<void> {
    const maxBatch = this.options.maxBatch ?? 5000;
    let cursor = from;
    for (;;) {
      const page: RecordedEvent[] = [];
      // Raw, not re-validated: every event was validated against the catalogue when appended (and
      // `sluice verify` proves it unchanged); validating again would cost more than folding.
      for await (const raw of this.options.store.readAllRaw({ after: cursor, maxCount: maxBatch }))
        page.push(raw as unknown as RecordedEvent);
      if (page.length > 0) cursor = this.commit(page, cursor);
      if (this.stopped || this.restart) return;
      if (page.length < maxBatch) break;
    }
    this.lastError = null; // caught up again after a failure: healthy while following live
    const subscription = this.options.store.subscribeAll({ after: cursor });
    this.subscription = subscription;
    try {
      const iterator = subscription[Symbol.asyncIterator]();
      let batch: RecordedEvent[] = [];
      let pending = iterator.next();
      let idle: Promise<typeof IDLE> | null = null;
      while (!this.stopped && !this.restart) {
        let next: IteratorResult<RecordedEvent> | typeof IDLE;
        if (batch.length === 0) next = await pending;
        else {
          // setImmediate runs after pending I/O: the subscription has handed over what it already read.
          idle ??= new Promise((resolve) => setImmediate(resolve, IDLE));
          next = await Promise.race([pending, idle]);
        }
        if (next !== IDLE && !next.done) {
          batch.push(next.value);
          pending = iterator.next();
          if (batch.length < maxBatch) continue;
        }
        if (batch.length > 0 && !this.restart) cursor = this.commit(batch, cursor);
        batch = [];
        idle = null;
        if (next !== IDLE && next.done) return;
      }
    } finally {
      await subscription.close();
    }
  }

  /** Commits a batch; returns the new cursor (its last position). */
  private commit(batch: readonly RecordedEvent[], cursor: bigint): bigint {
    this.commitBatch(batch, cursor);
    const reached = this.lowest();
    if (this.waiters.length > 0) {
      const still: typeof this.waiters = [];
      for (const waiter of this.waiters) {
        if (waiter.position <= reached) waiter.resolve(true);
        else still.push(waiter);
      }
      this.waiters = still;
    }
    for (const listener of this.listeners) {
      try {
        listener(batch);
      } catch (error) {
        this.options.log?.warn({ err: error }, "read model listener failed");
      }
    }
    return (batch[batch.length - 1] as RecordedEvent).position;
  }

  /** Inside the transaction: each projection folds the events past its stored checkpoint. */
  private applyBatch(batch: readonly RecordedEvent[], cursor: bigint): void {
    const last = (batch[batch.length - 1] as RecordedEvent).position;
    const stored = this.checkpoints.all();
    for (const projection of this.projections) {
      const checkpoint = stored.get(projection.name);
      const fold = this.folds.get(projection.name);
      // Reset by someone else (behind what this subscription already passed): start over from it.
      if (!checkpoint || !fold || checkpoint.version !== projection.version || checkpoint.position < cursor) {
        this.requestRestart();
        continue;
      }
      if (checkpoint.position >= last) {
        this.positions.set(projection.name, checkpoint.position);
        continue;
      }
      for (const event of batch) if (event.position > checkpoint.position) fold.apply(event);
      fold.flush?.();
      this.checkpoints.set({ ...checkpoint, position: last });
      this.positions.set(projection.name, last);
    }
  }

  private requestRestart(): void {
    this.restart = true;
    void this.subscription?.close();
  }

  /** Tables at the right version and positions as stored (another process may have rebuilt some). */
  private prepareAll(): void {
    for (const projection of this.projections) {
      if (this.checkpoints.ensure(projection))
        this.options.log?.info({ projection: projection.name }, "read model (re)built from the log");
      if (!this.folds.has(projection.name))
        this.folds.set(projection.name, projection.prepare(this.options.db));
    }
    for (const [name, checkpoint] of this.checkpoints.all()) this.positions.set(name, checkpoint.position);
  }

  private lowest(): bigint {
    let lowest: bigint | null = null;
    for (const projection of this.projections) {
      const position = this.positions.get(projection.name) ?? 0n;
      if (lowest === null || position < lowest) lowest = position;
    }
    return lowest ?? 0n;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** Each read model's checkpoint against the head of the log (no runner needed: the CLI reads it too). */
export async function projectionStatus(
  db: ReadModelDb,
  store: EventStore,
  projections: readonly Projection[],
): Promise<ProjectionStatus[]> {
  const head = await store.headPosition();
  const stored = new Checkpoints(db).all();
  return projections.map((projection) => {
    const checkpoint = stored.get(projection.name);
    const position = checkpoint?.version === projection.version ? checkpoint.position : 0n;
    return {
      name: projection.name,
      version: projection.version,
      position,
      head,
      lag: head > position ? head - position : 0n,
      rebuiltAt: checkpoint?.rebuiltAt ?? "",
    };
  });
}
