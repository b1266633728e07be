import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isSluiceError } from "../../src/errors.ts";
import { canonical, eventHash, GENESIS } from "../../src/eventstore/chain.ts";
import { WrongExpectedRevisionError } from "../../src/eventstore/conflict.ts";
import type { EventStore, RecordedEvent } from "../../src/eventstore/port.ts";
import { collect, take, taskEvent } from "../support/events.ts";

/**
 * The one contract every EventStore adapter passes, each against its real engine.
 * A harness opens stores over one fresh, isolated log per test.
 */
export interface StoreHarness {
  open(): Promise<EventStore>;
  /** Overwrites the stored data text of the event at `position` (engines that keep text). */
  corruptData?(position: bigint, text: string): Promise<void>;
  dispose(): Promise<void>;
}

export function eventStoreContract(name: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`EventStore contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: EventStore;
    const opened: EventStore[] = [];

    const open = async () => {
      const s = await harness.open();
      opened.push(s);
      return s;
    };

    beforeEach(async () => {
      harness = await makeHarness();
      store = await open();
    });

    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
      await harness.dispose();
    });

    it("appends to a new stream and reads it back in order, validated", async () => {
      const result = await store.append("task-a", [taskEvent(1), taskEvent(2), taskEvent(3)]);
      expect(result.nextExpectedRevision).toBe(2n);
      const events = await collect(store.readStream("task-a"));
      expect(events.map((e) => e.revision)).toEqual([0n, 1n, 2n]);
      expect(events.map((e) => e.type === "TaskDeclared" && e.data.intent)).toEqual([
        "intent 1",
        "intent 2",
        "intent 3",
      ]);
      expect(events[2]?.position).toBe(result.position);
      expect(events[0]?.metadata.gatewayInstance).toBe("test");
      expect(typeof events[0]?.position).toBe("bigint");
    });

    it("keeps the events of one append atomic and contiguous", async () => {
      await store.append("task-x", [taskEvent(0)]);
      const result = await store.append("task-a", [taskEvent(1), taskEvent(2), taskEvent(3)]);
      const all = await collect(store.readAll());
      const positions = all.filter((e) => e.stream === "task-a").map((e) => e.position);
      expect(positions).toHaveLength(3);
      expect(positions[2]).toBe(result.position);
      for (let i = 1; i < positions.length; i++)
        expect(positions[i]).toBeGreaterThan(positions[i - 1] as bigint);
    });

    it("enforces expected revisions with a typed conflict", async () => {
      await expect(
        store.append("task-a", [taskEvent(1)], { expectedRevision: "stream_exists" }),
      ).rejects.toMatchObject({
        code: "WRONG_EXPECTED_REVISION",
        actual: "no_stream",
      });
      await store.append("task-a", [taskEvent(1)], { expectedRevision: "no_stream" });
      const conflict = await store
        .append("task-a", [taskEvent(2)], { expectedRevision: "no_stream" })
        .catch((error: unknown) => error);
      expect(conflict).toBeInstanceOf(WrongExpectedRevisionError);
      expect(conflict).toMatchObject({ stream: "task-a", expected: "no_stream", actual: 0n });
      await expect(store.append("task-a", [taskEvent(2)], { expectedRevision: 5n })).rejects.toMatchObject({
        actual: 0n,
        expected: 5n,
      });
      expect(
        (await store.append("task-a", [taskEvent(2)], { expectedRevision: 0n })).nextExpectedRevision,
      ).toBe(1n);
      expect(
        (await store.append("task-a", [taskEvent(3)], { expectedRevision: "stream_exists" }))
          .nextExpectedRevision,
      ).toBe(2n);
      expect(
        (await store.append("task-a", [taskEvent(4)], { expectedRevision: "any" })).nextExpectedRevision,
      ).toBe(3n);
      expect(await collect(store.readStream("task-a"))).toHaveLength(4);
    });

    it("lets exactly one of several concurrent appends at the same revision win", async () => {
      await store.append("task-a", [taskEvent(0)]);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          store.append("task-a", [taskEvent(i + 1)], { expectedRevision: 0n }),
        ),
      );
      expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
      for (const o of outcomes.filter((o) => o.status === "rejected")) {
        expect((o as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedRevisionError);
      }
      expect(await collect(store.readStream("task-a"))).toHaveLength(2);
    });

    it("fails only the conflicting append of a concurrent group", async () => {
      await store.append("task-c", [taskEvent(0)]);
      const outcomes = await Promise.allSettled([
        ...Array.from({ length: 20 }, (_, i) => store.append(`task-${i}`, [taskEvent(i)])),
        store.append("task-c", [taskEvent(99)], { expectedRevision: "no_stream" }),
      ]);
      expect(outcomes.slice(0, 20).every((o) => o.status === "fulfilled")).toBe(true);
      expect(outcomes[20]?.status).toBe("rejected");
      expect(await collect(store.readAll())).toHaveLength(21);
    });

    it("reads streams forwards, backwards, from a revision and up to a count", async () => {
      await store.append(
        "task-a",
        [0, 1, 2, 3, 4].map((n) => taskEvent(n)),
      );
      expect(await collect(store.readStream("task-missing"))).toEqual([]);
      const rev = async (options: Parameters<EventStore["readStream"]>[1]) =>
        (await collect(store.readStream("task-a", options))).map((e) => e.revision);
      expect(await rev({ direction: "backwards", maxCount: 2 })).toEqual([4n, 3n]);
      expect(await rev({ fromRevision: 3n })).toEqual([3n, 4n]);
      expect(await rev({ fromRevision: 2n, direction: "backwards" })).toEqual([2n, 1n, 0n]);
      expect(await rev({ fromRevision: 1n, maxCount: 2 })).toEqual([1n, 2n]);
    });

    it("reads $all in position order after a position, up to a count", async () => {
      for (let i = 0; i < 30; i++) await store.append(`task-${i % 3}`, [taskEvent(i)]);
      const all = await collect(store.readAll());
      expect(all).toHaveLength(30);
      for (let i = 1; i < all.length; i++)
        expect(all[i]?.position).toBeGreaterThan(all[i - 1]?.position as bigint);
      const after = all[9]?.position as bigint;
      const rest = await collect(store.readAll({ after, maxCount: 5 }));
      expect(rest.map((e) => e.position)).toEqual(all.slice(10, 15).map((e) => e.position));
      expect(await store.headPosition()).toBe(all[29]?.position);
      expect(await collect(store.readAll({ after: all[29]?.position }))).toEqual([]);
    });

    it("chains every event's hash to the previous event of its stream", async () => {
      await store.append("task-a", [taskEvent(1), taskEvent(2)]);
      await store.append("task-b", [taskEvent(3)]);
      await store.append("task-a", [taskEvent(4)]);
      const prev = new Map<string, string>();
      for (const event of await collect(store.readAllRaw())) {
        const expected = eventHash(prev.get(event.stream) ?? GENESIS, {
          stream: event.stream,
          revision: event.revision,
          type: event.type,
          dataJson: canonical(event.data),
          metadataJson: canonical(event.metadata),
        });
        expect(event.hash).toBe(expected);
        prev.set(event.stream, event.hash);
      }
      expect(prev.size).toBe(2);
    });

    it("subscribes to $all: catch-up then live, no gap and no duplicate at the switch", async () => {
      for (let i = 0; i < 50; i++) await store.append(`task-${i % 5}`, [taskEvent(i)]);
      const start = (await collect(store.readAll({ maxCount: 10 })))[9]?.position as bigint;
      const subscription = store.subscribeAll({ after: start });
      // Writers keep appending while the subscription catches up and switches to live.
      const writing = Promise.all(
        Array.from({ length: 4 }, async (_, w) => {
          for (let i = 0; i < 25; i++) await store.append(`task-live-${w}`, [taskEvent(1000 + i)]);
        }),
      );
      const seen = await take(subscription, 40 + 100);
      await writing;
      await subscription.close();
      const positions = seen.map((e) => e.position);
      expect(new Set(positions).size).toBe(140);
      for (let i = 1; i < positions.length; i++)
        expect(positions[i]).toBeGreaterThan(positions[i - 1] as bigint);
      expect(positions[0]).toBeGreaterThan(start);
      const expected = (await collect(store.readAll({ after: start }))).map((e) => e.position);
      expect(positions).toEqual(expected);
    });

    it("delivers live events of one stream to its subscription only", async () => {
      await store.append("task-a", [taskEvent(1)]);
      const subscription = store.subscribeStream("task-a");
      const first = await take(subscription, 1);
      await store.append("task-b", [taskEvent(2)]);
      await store.append("task-a", [taskEvent(3), taskEvent(4)]);
      const live = await take(subscription, 2);
      await subscription.close();
      expect([...first, ...live].map((e) => e.revision)).toEqual([0n, 1n, 2n]);
      expect(live.every((e: RecordedEvent) => e.stream === "task-a")).toBe(true);
    });

    it("ends a subscription's iteration on close", async () => {
      const subscription = store.subscribeAll();
      const iterating = collect(subscription);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await subscription.close();
      await expect(iterating).resolves.toEqual([]);
    });

    it("flushes pending appends on close and keeps them across a reopen", async () => {
      const pending = Array.from({ length: 100 }, (_, i) => store.append(`task-${i % 7}`, [taskEvent(i)]));
      await store.close();
      const results = await Promise.all(pending);
      expect(results).toHaveLength(100);
      const reopened = await open();
      expect(await collect(reopened.readAll())).toHaveLength(100);
      await expect(store.append("task-z", [taskEvent(1)])).rejects.toMatchObject({ code: "STORE_CLOSED" });
    });

    it("names the position of a malformed stored event instead of skipping it", async (context) => {
      if (!harness.corruptData) return context.skip();
      await store.append("task-a", [taskEvent(1), taskEvent(2)]);
      const [, second] = await collect(store.readAll());
      await harness.corruptData(second?.position as bigint, '{"taskId":42}');
      const error = await collect(store.readAll()).catch((e: unknown) => e);
      expect(isSluiceError(error, "STORED_EVENT_INVALID")).toBe(true);
      expect((error as Error).message).toContain(`position ${second?.position}`);
      await harness.corruptData(second?.position as bigint, "{not json");
      await expect(collect(store.readStream("task-a"))).rejects.toThrow(/position \d+.*not JSON/);
    });
  });
}
