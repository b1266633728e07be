import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { startGateway } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load.ts";
import { applyPolicy } from "../../src/gate/policy-versions.ts";
import { createLogger } from "../../src/log.ts";
import { collect, until } from "../support/events.ts";
import { makeDataDir } from "../support/ledger.ts";

const POLICY = `
targets: [{ name: db, protocol: postgres, address: "127.0.0.1:1" }]
access: [{ name: agents, who: { groups: [agents] }, targets: [db], level: read-only }]
`;

/** In-process jobs die with the process: a restarted gateway schedules expiries again from its read models. */
describe("expiry after a restart", () => {
  const paths = makeDataDir();
  afterAll(() => rmSync(paths.dir, { recursive: true, force: true }));

  it("expires a credential and an approval whose jobs were lost with the previous process", async () => {
    const config = loadConfig({ file: paths.configFile, env: { SLUICE_API_PORT: "0" } });
    const log = createLogger("silent", "gw");
    const first = await startGateway(config, { log });
    const agent = { subject: "agent-1", groups: ["agents"] };
    const applied = await applyPolicy(
      first.store,
      [{ file: "p.yaml", text: POLICY }],
      { subject: "ops", groups: [], kind: "human" },
      "gw",
    );
    await first.policy.waitForVersion(applied.version);
    const taskId = await first.credentials.declareTask({
      intent: "short job",
      agent: { ...agent, kind: "agent" },
    });
    const { credentialId } = await first.credentials.issue({
      identity: agent,
      target: "db",
      access: "read-only",
      taskId,
      ttlMs: 2500,
    });
    const approvalId = randomUUID();
    await first.approvals.request({
      approvalId,
      requester: { ...agent, kind: "agent" },
      target: "db",
      command: "DELETE FROM t",
      classification: {},
      rule: "r",
      policyVersion: applied.version,
      approverGroups: ["dba"],
      quorum: 1,
      anyDenyEnds: true,
      expiresAt: new Date(Date.now() + 2500).toISOString(),
    });
    await first.stop(); // the in-process scheduler's timers go with it

    const second = await startGateway(config, { log });
    try {
      await until(async () => {
        const credential = await collect(second.store.readStream(`credential-${credentialId}`));
        const approval = await collect(second.store.readStream(`approval-${approvalId}`));
        return (
          credential.some((e) => e.type === "CredentialExpired") &&
          approval.some((e) => e.type === "ApprovalExpired")
        );
      }, 15_000);
      expect((await second.credentials.state(credentialId)).status).toBe("expired");
      expect((await second.approvals.state(approvalId)).status).toBe("expired");
    } finally {
      await second.stop();
    }
  });
});
