import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.ts";
import { BullmqScheduler } from "../../src/jobs/bullmq.ts";
import { InProcessScheduler } from "../../src/jobs/in-process.ts";
import { openScheduler } from "../../src/jobs/open.ts";
import { createLogger } from "../../src/log.ts";
import { until } from "../support/events.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";
import { schedulerContract } from "./scheduler-contract.ts";

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis?.stop());

schedulerContract("in-process", async () => new InProcessScheduler());
schedulerContract(
  "BullMQ on Redis",
  async () => new BullmqScheduler({ url: redis.url, queueName: `q-${randomUUID()}` }),
);

describe("choosing the scheduler from config", () => {
  it("uses BullMQ when redis is configured (URL by reference) and in-process otherwise", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-jobs-"));
    writeFileSync(join(dir, "sluice.yaml"), "redis:\n  url: { env: TEST_REDIS_URL }\n");
    const log = createLogger("silent", "test");
    process.env.TEST_REDIS_URL = redis.url; // secrets resolve from the process environment when used
    const withRedis = await openScheduler(loadConfig({ cwd: dir, env: {} }), log);
    delete process.env.TEST_REDIS_URL;
    expect(withRedis.kind).toBe("bullmq");
    await withRedis.stop();
    const embedded = await openScheduler(loadConfig({ cwd: tmpdir(), env: {} }), log);
    expect(embedded.kind).toBe("in-process");
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("BullMQ with two gateway instances", () => {
  it("runs a job exactly once although both instances work the queue", async () => {
    const queueName = `q-${randomUUID()}`;
    const runs: string[] = [];
    const instances = [0, 1].map((n) => {
      const scheduler = new BullmqScheduler({ url: redis.url, queueName });
      scheduler.handle("expire", async (job) => void runs.push(`${n}:${job.id}`));
      return scheduler;
    });
    await Promise.all(instances.map((s) => s.start()));
    for (let i = 0; i < 20; i++)
      await instances[i % 2]?.schedule("expire", `c${i}`, new Date(Date.now() + 200));
    await until(() => runs.length === 20, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(new Set(runs.map((r) => r.split(":")[1])).size).toBe(20);
    expect(runs).toHaveLength(20);
    await Promise.all(instances.map((s) => s.stop()));
  });

  it("keeps a scheduled job across a restart of the gateway", async () => {
    const queueName = `q-${randomUUID()}`;
    const before = new BullmqScheduler({ url: redis.url, queueName });
    await before.schedule("expire", "survivor", new Date(Date.now() + 300), { n: 1 });
    await before.stop();
    const runs: unknown[] = [];
    const after = new BullmqScheduler({ url: redis.url, queueName });
    after.handle("expire", async (job) => void runs.push(job.data));
    await after.start();
    await until(() => runs.length === 1, 5000);
    expect(runs).toEqual([{ n: 1 }]);
    await after.stop();
  });
});
