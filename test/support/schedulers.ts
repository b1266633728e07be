import { randomUUID } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { BullmqScheduler } from "../../src/jobs/bullmq.ts";
import { InProcessScheduler } from "../../src/jobs/in-process.ts";
import type { Scheduler } from "../../src/jobs/scheduler.ts";
import { type RedisServer, startRedis } from "./redis.ts";

/**
 * Both scheduler implementations, for tests that must pass with each (`describe.each`).
 * Starts a throwaway Redis for BullMQ around the file's tests; each factory call gets its own queue.
 */
export function bothSchedulers(): [string, () => Scheduler][] {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());
  return [
    ["in-process", () => new InProcessScheduler()],
    ["BullMQ", () => new BullmqScheduler({ url: redis.url, queueName: `q-${randomUUID()}` })],
  ];
}
