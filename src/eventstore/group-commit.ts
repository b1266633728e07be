/**
 * Group commit: requests that arrive while a commit is in flight wait and share the next
 * one, so one fsync serves many sessions. `commit` returns, for each request in order, its
 * result or the error for that request alone.
 *
 * With `depth` 2 the next batch is handed to the engine while the previous one is still
 * syncing, so the event loop's work for one batch overlaps the fsync of the other; `maxBatch`
 * splits a crowd of writers across both.
 */
export class GroupCommit<Request, Result> {
  private queue: Pending<Request, Result>[] = [];
  private inFlight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];
  private readonly depth: number;
  private readonly maxBatch: number;

  constructor(
    private readonly commit: (requests: Request[]) => Promise<(Result | Error)[]>,
    options: { depth?: number; maxBatch?: number } = {},
  ) {
    this.depth = options.depth ?? 1;
    this.maxBatch = options.maxBatch ?? 1000;
  }

  submit(request: Request): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once everything submitted so far is committed (or has failed). */
  flush(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.depth || this.queue.length === 0) return;
    this.scheduled = true;
    // Let requests submitted in the same tick join this batch.
    setImmediate(() => {
      this.scheduled = false;
      while (this.inFlight < this.depth && this.queue.length > 0) {
        void this.run(this.queue.splice(0, this.maxBatch));
      }
    });
  }

  private async run(batch: Pending<Request, Result>[]): Promise<void> {
    this.inFlight += 1;
    let results: (Result | Error)[];
    try {
      results = await this.commit(batch.map((p) => p.request));
    } catch (error) {
      results = batch.map(() => error as Error);
    }
    this.inFlight -= 1;
    batch.forEach((pending, i) => {
      const result = results[i];
      if (result instanceof Error) pending.reject(result);
      else pending.resolve(result as Result);
    });
    this.schedule();
    if (this.inFlight === 0 && this.queue.length === 0) {
      for (const resolve of this.idle.splice(0)) resolve();
    }
  }
}

interface Pending<Request, Result> {
  request: Request;
  resolve: (result: Result) => void;
  reject: (error: Error) => void;
}
