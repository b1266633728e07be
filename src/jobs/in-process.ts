import type { Logger } from "pino";
import { backoffMs, type Job, type JobHandler, RETRY, type Scheduler } from "./scheduler.ts";

/**
 * Jobs on this process's timers, for the embedded gateway. Nothing is kept across a restart:
 * whoever owns a job re-arms it from the read side at start (e.g. credential expiry from the
 * credential ledger), which is why handlers must be idempotent.
 */
export class InProcessScheduler implements Scheduler {
  readonly kind = "in-process" as const;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private started = false;
  private stopped = false;

  constructor(private readonly log?: Logger) {}

  handle(kind: string, handler: JobHandler): void {
    this.handlers.set(kind, handler);
  }

  async schedule(kind: string, id: string, runAt: Date, data?: unknown): Promise<void> {
    this.arm({ kind, id, data, attempt: 1 }, runAt.getTime() - Date.now());
  }

  async cancel(kind: string, id: string): Promise<void> {
    const key = keyOf(kind, id);
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  async start(): Promise<void> {
    this.started = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.all(this.running);
  }

  private arm(job: Job, delayMs: number): void {
    if (this.stopped) return;
    const key = keyOf(job.kind, job.id);
    clearTimeout(this.timers.get(key));
    // setTimeout holds at most ~24.8 days; a later job wakes up then and re-arms.
    const wait = Math.min(Math.max(delayMs, 0), 2 ** 31 - 1);
    const due = Date.now() + Math.max(delayMs, 0);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      // A timer may fire a millisecond before Date.now() reaches `due`; a job run early would find
      // nothing due (an approval not yet expired) and be gone, so it waits for the rest.
      if (Date.now() < due) this.arm(job, due - Date.now());
      else this.run(job);
    }, wait);
    timer.unref();
    this.timers.set(key, timer);
  }

  private run(job: Job): void {
    if (!this.started || this.stopped) {
      // Not started yet: try again shortly rather than lose the job.
      if (!this.stopped) this.arm(job, 50);
      return;
    }
    const handler = this.handlers.get(job.kind);
    const running = (async () => {
      try {
        if (!handler) throw new Error(`no handler for job kind "${job.kind}"`);
        await handler(job);
      } catch (error) {
        if (job.attempt >= RETRY.attempts) {
          this.log?.error({ err: error, job: { kind: job.kind, id: job.id } }, "job failed for good");
          return;
        }
        this.log?.warn(
          { err: error, job: { kind: job.kind, id: job.id, attempt: job.attempt } },
          "job failed; retrying",
        );
        this.arm({ ...job, attempt: job.attempt + 1 }, backoffMs(job.attempt));
      }
    })();
    this.running.add(running);
    void running.finally(() => this.running.delete(running));
  }
}

function keyOf(kind: string, id: string): string {
  return `${kind}\u0000${id}`;
}
