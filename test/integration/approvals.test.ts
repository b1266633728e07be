import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EventData } from "../../src/events/index.ts";
import { PostgresEventStore } from "../../src/eventstore/postgres.ts";
import { ApprovalService } from "../../src/gate/approvals.ts";
import { BullmqScheduler } from "../../src/jobs/bullmq.ts";
import { collect } from "../support/events.ts";
import { type PostgresServer, startPostgres } from "../support/postgres.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";

/** Two gateway instances sharing one PostgreSQL event store and one BullMQ queue on Redis. */
describe("approvals across gateway instances", () => {
  let postgres: PostgresServer;
  let redis: RedisServer;
  const instances: { approvals: ApprovalService; close: () => Promise<void> }[] = [];
  const queueName = `approvals-${randomUUID()}`;

  beforeAll(async () => {
    [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
    for (const name of ["gw-a", "gw-b"]) {
      const store = await PostgresEventStore.open({ connectionString: postgres.url, pollMs: 200 });
      const scheduler = new BullmqScheduler({ url: redis.url, queueName });
      const approvals = new ApprovalService({ store, scheduler, gatewayInstance: name });
      await scheduler.start();
      const close = async () => {
        await scheduler.stop();
        await store.close();
      };
      instances.push({ approvals, close });
    }
  });
  afterAll(async () => {
    for (const instance of instances) await instance.close();
    await Promise.all([postgres?.stop(), redis?.stop()]);
  });

  const [a, b] = [
    () => instances[0]?.approvals as ApprovalService,
    () => instances[1]?.approvals as ApprovalService,
  ];
  const request = (over: Partial<EventData<"ApprovalRequested">> = {}): EventData<"ApprovalRequested"> => ({
    approvalId: randomUUID(),
    requester: { subject: "agent-42", groups: ["agents"], kind: "agent" },
    target: "orders-db",
    command: "UPDATE orders SET total = 0 WHERE id = 7",
    classification: { kinds: ["update"] },
    rule: "approve-order-writes",
    policyVersion: 1,
    approverGroups: ["dba"],
    quorum: 1,
    anyDenyEnds: true,
    expiresAt: new Date(Date.now() + 60_000).toISOString(),
    ...over,
  });
  const dana = { subject: "dana", groups: ["dba"], kind: "human" as const };
  const sam = { subject: "sam", groups: ["dba"], kind: "human" as const };

  it("releases a command held through instance A when B casts the approval", async () => {
    const held = request();
    await a().request(held);
    const outcome = a().outcome(held.approvalId);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const voted = performance.now();
    await b().vote(held.approvalId, dana, "approve", "looks right");
    const result = await outcome;
    const latencyMs = performance.now() - voted;
    expect(result).toEqual({ status: "granted", approvers: ["dana"] });
    expect(latencyMs).toBeLessThan(1000);
    process.stdout.write(`approval released across instances in ${latencyMs.toFixed(1)} ms\n`);
  });

  it("ends a held command when B denies it, with the reason", async () => {
    const held = request();
    await a().request(held);
    const outcome = a().outcome(held.approvalId);
    await b().vote(held.approvalId, dana, "deny", "not during month end");
    expect(await outcome).toEqual({ status: "denied", reason: "not during month end" });
    await expect(a().vote(held.approvalId, sam, "approve")).rejects.toThrow(/is already denied/);
  });

  it("counts two approvers voting at the same moment through different instances, and grants once", async () => {
    const held = request({ quorum: 2 });
    await a().request(held);
    await Promise.all([
      a().vote(held.approvalId, dana, "approve"),
      b().vote(held.approvalId, sam, "approve"),
    ]);
    const state = await a().state(held.approvalId);
    expect(state.status).toBe("granted");
    const store = await PostgresEventStore.open({ connectionString: postgres.url });
    const events = await collect(store.readStream(`approval-${held.approvalId}`));
    await store.close();
    expect(events.map((e) => e.type)).toEqual([
      "ApprovalRequested",
      "ApprovalVoteCast",
      "ApprovalVoteCast",
      "ApprovalGranted",
    ]);
  });

  it("expires exactly once with both instances running", async () => {
    const held = request({ expiresAt: new Date(Date.now() + 800).toISOString() });
    await a().request(held);
    // Scheduling the same job from B too (as a second instance re-arming would) must not double it.
    await b()
      .request(held)
      .catch(() => {});
    expect(await a().outcome(held.approvalId)).toEqual({
      status: "expired",
      reason: "the approval request expired",
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const store = await PostgresEventStore.open({ connectionString: postgres.url });
    const types = (await collect(store.readStream(`approval-${held.approvalId}`))).map((e) => e.type);
    await store.close();
    expect(types).toEqual(["ApprovalRequested", "ApprovalExpired"]);
    await expect(b().vote(held.approvalId, dana, "approve")).rejects.toThrow(/is already expired/);
  });
});
