import { afterEach, describe, expect, it } from "vitest";
import type { Job, Scheduler } from "../../src/jobs/scheduler.ts";
import { until } from "../support/events.ts";

/** What every scheduler does, run against the in-process one and against BullMQ on a real Redis. */
export function schedulerContract(name: string, make: () => Promise<Scheduler>): void {
  describe(`Scheduler contract: ${name}`, () => {
    const started: Scheduler[] = [];
    const open = async (register: (s: Scheduler) => void) => {
      const scheduler = await make();
      register(scheduler);
      await scheduler.start();
      started.push(scheduler);
      return scheduler;
    };
    afterEach(async () => {
      for (const s of started.splice(0)) await s.stop();
    });

    it("runs a job at its time with its data, once", async () => {
      const runs: { job: Job; at: number }[] = [];
      const scheduler = await open((s) =>
        s.handle("expire", async (job) => void runs.push({ job, at: Date.now() })),
      );
      const runAt = new Date(Date.now() + 300);
      await scheduler.schedule("expire", "cred-1", runAt, { credentialId: "cred-1" });
      await until(() => runs.length === 1, 5000);
      expect(runs[0]?.job).toMatchObject({
        kind: "expire",
        id: "cred-1",
        data: { credentialId: "cred-1" },
        attempt: 1,
      });
      expect(runs[0]?.at).toBeGreaterThanOrEqual(runAt.getTime() - 5);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(runs).toHaveLength(1);
    });

    it("treats kind + id as one job: scheduling again moves it; cancel removes it", async () => {
      const runs: string[] = [];
      const scheduler = await open((s) =>
        s.handle("expire", async (job) => void runs.push(`${job.id}:${job.data}`)),
      );
      await scheduler.schedule("expire", "a", new Date(Date.now() + 5000), "first");
      await scheduler.schedule("expire", "a", new Date(Date.now() + 200), "moved");
      await scheduler.schedule("expire", "b", new Date(Date.now() + 200), "b");
      await scheduler.cancel("expire", "b");
      await until(() => runs.length >= 1, 5000);
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(runs).toEqual(["a:moved"]);
    });

    it("runs a job whose time has passed right away", async () => {
      const runs: string[] = [];
      const scheduler = await open((s) => s.handle("seal", async (job) => void runs.push(job.id)));
      await scheduler.schedule("seal", "late", new Date(Date.now() - 60_000));
      await until(() => runs.length === 1, 5000);
    });

    it("retries a failing handler with backoff until it succeeds", async () => {
      const attempts: number[] = [];
      const scheduler = await open((s) =>
        s.handle("webhook", async (job) => {
          attempts.push(job.attempt);
          if (job.attempt < 3) throw new Error("receiver down");
        }),
      );
      await scheduler.schedule("webhook", "delivery-1", new Date());
      await until(() => attempts.length === 3, 10_000);
      expect(attempts).toEqual([1, 2, 3]);
    });
  });
}
