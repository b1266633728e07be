import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ClassifiedCommand } from "../../src/domain/policy/command.ts";
import { decide } from "../../src/domain/policy/decide.ts";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { PolicyFollower } from "../../src/gate/policy-versions.ts";
import { runSluice } from "../support/cli.ts";
import { until } from "../support/events.ts";
import { makeDataDir } from "../support/ledger.ts";

const EXAMPLE = new URL("../../examples/policy.yaml", import.meta.url);

describe("sluice policy apply / show", () => {
  const paths = makeDataDir();
  afterAll(() => rmSync(paths.dir, { recursive: true, force: true }));
  const sluice = (...args: string[]) => runSluice([...args, "--config", paths.configFile]);

  it("publishes, shows, ignores an identical document, and the gateway follows a change live", async () => {
    // The gateway side: a follower on the same embedded store, in this process.
    const store = await SqliteEventStore.open({ path: paths.dbPath, pollMs: 50 });
    const follower = new PolicyFollower(store);
    await follower.start();
    expect(follower.current()).toBeNull();

    const first = await sluice("policy", "apply", EXAMPLE.pathname, "--author", "ops-alice");
    expect(first.stdout).toMatch(/^policy version 1 published\n {2}targets: \+orders-db \+web-1 \+cluster\n/);
    expect(first.code).toBe(0);

    const again = await sluice("policy", "apply", EXAMPLE.pathname);
    expect(again.stdout).toBe("policy unchanged: version 1 is identical\n");

    const shown = await sluice("policy", "show");
    expect(shown.stdout).toMatch(/^# policy version 1, published .* by ops-alice\n/);
    expect(shown.stdout).toContain("name: approve-order-writes");

    const update = {
      protocol: "postgres",
      text: "UPDATE orders SET total = 0",
      sql: {
        parsed: true,
        kinds: ["update"],
        relations: ["public.orders"],
        functions: [],
        flags: [],
        readOnly: false,
      },
    } satisfies ClassifiedCommand;
    const agent = { subject: "agent-42", groups: ["agents"] };
    await until(() => follower.current()?.version === 1);
    const before = decide({
      identity: agent,
      target: "orders-db",
      command: update,
      policy: snapshot(follower),
      now: new Date(),
    });
    expect(before).toMatchObject({
      decision: "require_approval",
      rule: "approve-order-writes",
      policyVersion: 1,
    });

    // A second apply, from another process, with the approval rule turned into a deny.
    const changed = join(paths.dir, "policy-v2.yaml");
    writeFileSync(
      changed,
      readFileSync(EXAMPLE, "utf8")
        .replace(
          /- name: approve-order-writes\n(\s+)action: require_approval/,
          "- name: approve-order-writes\n$1action: deny",
        )
        .replace(/\n\s+approval: \{ groups: \[dba\], quorum: 1, timeout: 15m, reuseWithin: 10m \}/, ""),
    );
    const second = await sluice("policy", "apply", changed);
    expect(second.stdout).toBe("policy version 2 published\n  rules: ~approve-order-writes\n");

    await until(() => follower.current()?.version === 2);
    const after = decide({
      identity: agent,
      target: "orders-db",
      command: update,
      policy: snapshot(follower),
      now: new Date(),
    });
    expect(after).toMatchObject({ decision: "deny", rule: "approve-order-writes", policyVersion: 2 });

    const old = await sluice("policy", "show", "--version", "1", "--json");
    expect(
      JSON.parse(old.stdout).rules.find((r: { name: string }) => r.name === "approve-order-writes").action,
    ).toBe("require_approval");
    const missing = await sluice("policy", "show", "--version", "9");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("sluice: policy version 9 does not exist\n");

    await follower.stop();
    await store.close();
  });

  it("refuses an invalid file with its line and key, publishing nothing", async () => {
    const bad = join(paths.dir, "bad.yaml");
    writeFileSync(bad, "rules:\n  - name: x\n    action: deny\n    match: { sql: { flags: drop } }\n");
    const result = await sluice("policy", "apply", bad);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^sluice: .*bad\.yaml:4:\d+ rules\.0\.match\.sql\.flags: /);
    const shown = await sluice("policy", "show");
    expect(shown.stdout).toMatch(/^# policy version 2,/);
  });
});

function snapshot(follower: PolicyFollower) {
  const current = follower.current();
  if (!current) throw new Error("no policy snapshot yet");
  return current;
}
