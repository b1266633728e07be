/**
 * The scheduler port: delayed jobs (approval expiry, credential expiry, role clean-up,
 * exports, webhook deliveries). Two implementations: BullMQ on Redis when several gateway
 * instances share work, in-process otherwise. A job is identified by kind + id: scheduling
 * it again moves it, never duplicates it. Handlers must be idempotent (they append with
 * expected revisions), since a job may run again after a crash or a retry.
 */

export interface Job<T = unknown> {
  kind: string;
  id: string;
  data: T;
  /** 1 on the first run, then counts retries. */
  attempt: number;
}

export type JobHandler = (job: Job) => Promise<void>;

export interface Scheduler {
  readonly kind: "in-process" | "bullmq";
  /** Registers the handler for a kind of job; call before `start`. */
  handle(kind: string, handler: JobHandler): void;
  /** Schedules (or moves) the job kind+id to run at `runAt`; a time in the past runs it now. */
  schedule(kind: string, id: string, runAt: Date, data?: unknown): Promise<void>;
  cancel(kind: string, id: string): Promise<void>;
  start(): Promise<void>;
  /** Stops taking jobs and waits for the ones running. */
  stop(): Promise<void>;
}

/** Retries of a failing handler: attempts and exponential backoff, shared by both implementations. */
export const RETRY = { attempts: 5, firstDelayMs: 500 } as const;

export function backoffMs(attempt: number): number {
  return RETRY.firstDelayMs * 2 ** (attempt - 1);
}
