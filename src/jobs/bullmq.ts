import { type Job as BullJob, Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { backoffMs, type JobHandler, RETRY, type Scheduler } from "./scheduler.ts";

/**
 * Jobs in Redis through BullMQ, for several gateway instances: a delayed job is stored once
 * (job id = kind + id), survives restarts, and is taken by exactly one instance's worker.
 */
export class BullmqScheduler implements Scheduler {
  readonly kind = "bullmq" as const;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly queue: Queue;
  private worker: Worker | null = null;
  /** Connections we made: BullMQ leaves closing them to their owner. */
  private readonly connections: Redis[] = [];

  constructor(
    private readonly options: { url: string; queueName?: string; concurrency?: number; log?: Logger },
  ) {
    this.queue = new Queue(this.queueName, { connection: this.connect() });
  }

  private get queueName(): string {
    return this.options.queueName ?? "sluice-jobs";
  }

  handle(kind: string, handler: JobHandler): void {
    this.handlers.set(kind, handler);
  }

  async schedule(kind: string, id: string, runAt: Date, data?: unknown): Promise<void> {
    const jobId = jobIdOf(kind, id);
    // Moving a job: BullMQ keeps the first job for an id, so the old one goes first.
    await this.removeIfWaiting(jobId);
    await this.queue.add(
      kind,
      { id, data },
      {
        jobId,
        delay: Math.max(runAt.getTime() - Date.now(), 0),
        attempts: RETRY.attempts,
        backoff: { type: "custom" },
        removeOnComplete: true,
        removeOnFail: 1000,
      },
    );
  }

  async cancel(kind: string, id: string): Promise<void> {
    await this.removeIfWaiting(jobIdOf(kind, id));
  }

  async start(): Promise<void> {
    this.worker = new Worker(
      this.queueName,
      async (job: BullJob<{ id: string; data: unknown }>) => {
        const handler = this.handlers.get(job.name);
        if (!handler) throw new Error(`no handler for job kind "${job.name}"`);
        await handler({
          kind: job.name,
          id: job.data.id,
          data: job.data.data,
          attempt: job.attemptsMade + 1,
        });
      },
      {
        connection: this.connect(),
        concurrency: this.options.concurrency ?? 4,
        settings: { backoffStrategy: (attemptsMade: number) => backoffMs(attemptsMade) },
      },
    );
    this.worker.on("failed", (job, error) => {
      this.options.log?.warn(
        { err: error, job: { kind: job?.name, id: job?.data.id, attempt: job?.attemptsMade } },
        "job failed",
      );
    });
    this.worker.on("error", (error) => this.options.log?.error({ err: error }, "job worker error"));
    await this.worker.waitUntilReady();
  }

  async stop(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
    await Promise.all(this.connections.map((c) => c.quit().catch(() => c.disconnect())));
  }

  private connect(): Redis {
    // BullMQ's workers block on Redis; it requires maxRetriesPerRequest null on their connections.
    const redis = new Redis(this.options.url, { maxRetriesPerRequest: null });
    // While Redis is away ioredis reconnects by itself; say so once per error instead of crashing.
    redis.on("error", (error) => this.options.log?.warn({ err: error }, "redis connection error"));
    this.connections.push(redis);
    return redis;
  }

  private async removeIfWaiting(jobId: string): Promise<void> {
    const existing = await this.queue.getJob(jobId);
    if (!existing) return;
    // A job already running cannot be removed (its lock holds); it completes as scheduled.
    if (!(await existing.isActive())) await existing.remove().catch(() => {});
  }
}

function jobIdOf(kind: string, id: string): string {
  // BullMQ refuses ':' in custom ids.
  return `${kind}|${id}`.replaceAll(":", "%3A");
}
