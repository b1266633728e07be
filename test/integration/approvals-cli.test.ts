import { randomUUID } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { ApprovalService } from "../../src/gate/approvals.ts";
import { InProcessScheduler } from "../../src/jobs/in-process.ts";
import { runSluice } from "../support/cli.ts";
import { makeDataDir } from "../support/ledger.ts";
import { type RunningOidcProvider, startOidcProvider } from "../support/oidc-provider.ts";

describe("sluice approvals list / approve / deny", () => {
  const paths = makeDataDir();
  let provider: RunningOidcProvider;
  let dana: string;
  let agent: string;
  const sluice = (...args: string[]) => runSluice([...args, "--config", paths.configFile]);

  beforeAll(async () => {
    provider = await startOidcProvider({ clientIds: ["dana", "agent-42"] });
    writeFileSync(
      paths.configFile,
      `dataDir: ${join(paths.dir, "data")}\nidentity:\n  oidc:\n    issuer: ${provider.issuer}\n    audience: ${provider.audience}\n`,
    );
    dana = await provider.mintToken({ clientId: "dana", claims: { groups: ["dba"] } });
    agent = await provider.mintToken({ clientId: "agent-42", claims: { groups: ["agents"] } });
  });
  afterAll(async () => {
    await provider?.stop();
    rmSync(paths.dir, { recursive: true, force: true });
  });

  async function hold(command: string): Promise<string> {
    const store = await SqliteEventStore.open({ path: paths.dbPath });
    const approvalId = randomUUID();
    await new ApprovalService({ store, scheduler: new InProcessScheduler(), gatewayInstance: "gw" }).request({
      approvalId,
      requester: { subject: "agent-42", groups: ["agents"], kind: "agent" },
      target: "orders-db",
      command,
      classification: {},
      rule: "approve-order-writes",
      policyVersion: 1,
      approverGroups: ["dba"],
      quorum: 1,
      anyDenyEnds: true,
      expiresAt: new Date(Date.now() + 600_000).toISOString(),
    });
    await store.close();
    return approvalId;
  }

  it("lists what the caller may vote on, and records approve and deny as that caller", async () => {
    const first = await hold("UPDATE orders SET total = 0 WHERE id = 7");
    const second = await hold("DELETE FROM orders WHERE id = 8");

    const listed = await sluice("approvals", "list", "--token", dana);
    expect(listed.stdout).toContain(
      `${first}  agent-42 on orders-db  rule approve-order-writes  0/1 approvals`,
    );
    expect(listed.stdout).toContain("    DELETE FROM orders WHERE id = 8\n");
    expect((await sluice("approvals", "list", "--token", agent)).stdout).toBe("no pending approvals\n");

    const own = await sluice("approvals", "approve", first, "--token", agent);
    expect(own.code).toBe(2);
    expect(own.stderr).toBe("sluice: the requester may not vote on its own request\n");

    expect((await sluice("approvals", "approve", first, "--comment", "ok", "--token", dana)).stdout).toBe(
      `approval ${first}: approved by dana; now granted\n`,
    );
    expect((await sluice("approvals", "deny", second, "--reason", "month end", "--token", dana)).stdout).toBe(
      `approval ${second}: denied by dana; now denied\n`,
    );
    expect((await sluice("approvals", "list", "--token", dana)).stdout).toBe("no pending approvals\n");
    const late = await sluice("approvals", "approve", second, "--token", dana);
    expect(late.stderr).toBe(`sluice: approval ${second} is already denied\n`);
  });
});
