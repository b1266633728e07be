/**
 * Group commit: at most one commit is in flight; requests that arrive meanwhile wait and
 * share the next one, so one fsync serves many sessions. `commit` returns, for each request
 * in order, its result or the error for that request alone.
 */
export class GroupCommit<Request, Result> {
  private queue: Pending<Request, Result>[] = [];
  private inFlight: Promise<void> | null = null;

  constructor(private readonly commit: (requests: Request[]) => Promise<(Result | Error)[]>) {}

  submit(request: Request): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      if (this.inFlight === null) this.inFlight = this.drain();
    });
  }

  /** Resolves once everything submitted so far is committed (or has failed). */
  async flush(): Promise<void> {
    while (this.inFlight !== null) await this.inFlight;
  }

  get pending(): number {
    return this.queue.length;
  }

  private async drain(): Promise<void> {
    // Let requests submitted in the same tick join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      let results: (Result | Error)[];
      try {
        results = await this.commit(batch.map((p) => p.request));
      } catch (error) {
        results = batch.map(() => error as Error);
      }
      batch.forEach((pending, i) => {
        const result = results[i];
        if (result instanceof Error) pending.reject(result);
        else pending.resolve(result as Result);
      });
    }
    this.inFlight = null;
  }
}

interface Pending<Request, Result> {
  request: Request;
  resolve: (result: Result) => void;
  reject: (error: Error) => void;
}
