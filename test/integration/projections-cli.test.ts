import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load.ts";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { createLogger } from "../../src/log.ts";
import { runSluice } from "../support/cli.ts";
import { makeDataDir } from "../support/ledger.ts";
import { appendScenario, busySession } from "../unit/projection-fixtures.ts";

describe("sluice projections status / rebuild", () => {
  const paths = makeDataDir();
  const sluice = (...args: string[]) => runSluice([...args, "--config", paths.configFile]);
  let head: bigint;

  beforeAll(async () => {
    const store = await SqliteEventStore.open({ path: paths.dbPath });
    await appendScenario(store);
    head = await store.headPosition();
    await store.close();
  });
  afterAll(() => rmSync(paths.dir, { recursive: true, force: true }));

  it("rebuilds every read model from the log and reports them caught up", async () => {
    expect((await sluice("projections", "status")).stdout).toMatch(
      /^no read models yet at .*read-models\.db/,
    );
    const rebuilt = await sluice("projections", "rebuild");
    expect(rebuilt.stdout).toMatch(
      new RegExp(
        `^rebuilt policy, approvals, sessions, tasks, credentials, audit from the log up to position ${head} in `,
      ),
    );
    expect(rebuilt.code).toBe(0);
    const status = JSON.parse((await sluice("projections", "status", "--json")).stdout);
    expect(
      status.map((s: { name: string; lag: string; position: string }) => [s.name, s.position, s.lag]),
    ).toEqual(
      ["policy", "approvals", "sessions", "tasks", "credentials", "audit"].map((name) => [
        name,
        String(head),
        "0",
      ]),
    );
    const unknown = await sluice("projections", "rebuild", "nosuch");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      'sluice: no read model named "nosuch" (there are: policy, approvals, sessions, tasks, credentials, audit)\n',
    );
  });

  it("rebuilds one read model while the gateway runs on the same file; the gateway keeps folding", async () => {
    const config = loadConfig({ file: paths.configFile, env: { SLUICE_API_PORT: "0" } });
    const gateway = await startGateway(config, { log: createLogger("silent", "gw") });
    try {
      const { runner, reads } = gateway.readSide;
      expect(await runner.waitFor(head, 5000)).toBe(true);
      const rebuilt = await sluice("projections", "rebuild", "audit");
      expect(rebuilt.stdout).toMatch(/^rebuilt audit from the log/);
      // New events after the rebuild reach the gateway's read models exactly once.
      const { position } = await gateway.store.append("session-busy-1", busySession(1, 4));
      expect(await runner.waitFor(position, 5000)).toBe(true);
      expect(reads.audit.search({ limit: 100 }).map((c) => c.commandId)).toEqual([
        "busy-1-c3",
        "busy-1-c2",
        "busy-1-c1",
        "busy-1-c0",
        "c3",
        "c2",
        "c1",
      ]);
      const ready = (await (await fetch(`${gateway.apiUrl}/readyz`)).json()) as {
        checks: Record<string, boolean>;
      };
      expect(ready.checks.projections).toBe(true);
    } finally {
      await gateway.stop();
    }
  });
});
