import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { policyHash } from "../../src/domain/policy/publish.ts";
import { makeMetadata, newEvent, POLICY_STREAM } from "../../src/events/index.ts";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { applyPolicy, PolicyFollower } from "../../src/gate/policy-versions.ts";
import { until } from "../support/events.ts";

const author = { subject: "ops", groups: [], kind: "human" as const };
const text = (level: string) =>
  `targets: [{ name: db, protocol: postgres, address: "h:5432" }]\naccess: [{ name: a, who: { groups: [g] }, targets: [db], level: ${level} }]\n`;

describe("PolicyFollower", () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-follower-"));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("catches up, follows new versions, and keeps the last good one when a version does not validate", async () => {
    const store = await SqliteEventStore.open({ path: join(dir, "s.db"), pollMs: 50 });
    await applyPolicy(store, [{ file: "p.yaml", text: text("read-only") }], author, "test");
    const follower = new PolicyFollower(store);
    await follower.start();
    expect(follower.current()?.version).toBe(1);

    const seen: number[] = [];
    follower.onChange((snapshot) => seen.push(snapshot.version));
    await applyPolicy(store, [{ file: "p.yaml", text: text("admin") }], author, "test");
    await until(() => follower.current()?.version === 2);
    expect(follower.current()?.document.access[0]?.level).toBe("admin");

    // A version written by something that skipped validation: the gateway keeps version 2 and says so.
    const broken = { access: [{ name: "a", level: "root" }] };
    await store.append(POLICY_STREAM, [
      newEvent(
        "PolicyVersionPublished",
        { version: 3, hash: policyHash(broken), author, document: broken, diff: [] },
        makeMetadata({ gatewayInstance: "test" }),
      ),
    ]);
    await until(() => follower.lastError !== null);
    expect(follower.current()?.version).toBe(2);
    expect(follower.lastError?.message).toBe("policy version 3 does not validate");
    expect(seen).toEqual([2]);
    await follower.stop();
    await store.close();
  });
});
