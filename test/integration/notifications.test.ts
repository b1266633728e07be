import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClassifiedCommand } from "../../src/domain/policy/command.ts";
import { classifySql } from "../../src/gate/classify/sql.ts";
import { verifyWebhookSignature } from "../../src/gate/notify/webhooks.ts";
import { collect, until } from "../support/events.ts";
import { startTestGate, type TestGate } from "../support/gate.ts";

/** A held command tells the approvers through the configured webhooks, and the outcome is in the log. */
describe("approval notifications wired into the gate", () => {
  const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200).end();
    });
  });
  let gate: TestGate;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    process.env.SLUICE_TEST_HOOK_SECRET = "hook-secret-1";
    gate = await startTestGate(
      `
targets: [{ name: db, protocol: postgres, address: "127.0.0.1:1" }]
access: [{ name: agents, who: { groups: [agents] }, targets: [db], level: read-write }]
rules:
  - name: approve-writes
    action: require_approval
    match: { sql: { readOnly: false } }
    approval: { groups: [dba], timeout: 5m }
`,
      {
        notifications: {
          webhooks: [
            {
              name: "ops",
              url: `http://127.0.0.1:${port}/hook`,
              secret: { env: "SLUICE_TEST_HOOK_SECRET" },
              format: "json",
            },
          ],
          approveUrl: "https://sluice.example/approvals/{approvalId}",
        },
      },
    );
  });
  afterAll(async () => {
    await gate?.close();
    server.close();
  });

  it("posts a signed notice naming the approval and records ApproverNotified", async () => {
    const { token } = await gate.credential({ target: "db", access: "read-write" });
    const session = await gate.gate.openSession({
      principal: await gate.gate.authenticate(token),
      target: "db",
      protocol: "postgres",
      client: { address: "127.0.0.1" },
    });
    const text = "UPDATE orders SET total = 0";
    const command: ClassifiedCommand = { protocol: "postgres", text, sql: classifySql(text) };
    const verdict = await gate.gate.decide(session, command);
    expect(verdict.kind).toBe("hold");
    const approvalId = verdict.kind === "hold" ? verdict.approvalId : "";
    await until(() => received.length > 0, 10_000);
    const hook = received[0] as (typeof received)[number];
    const signature = String(hook.headers["x-sluice-signature"]);
    const timestamp = String(hook.headers["x-sluice-timestamp"]);
    expect(verifyWebhookSignature("hook-secret-1", signature, timestamp, hook.body)).toBe(true);
    const notice = JSON.parse(hook.body);
    expect(notice.approval).toMatchObject({
      approvalId,
      command: text,
      rule: "approve-writes",
      approveUrl: `https://sluice.example/approvals/${approvalId}`,
    });
    await until(async () => (await collect(gate.store.readStream(`notification-${approvalId}`))).length > 0);
    const [recorded] = await collect(gate.store.readStream(`notification-${approvalId}`));
    expect(recorded?.type).toBe("ApproverNotified");
    expect(recorded?.data).toMatchObject({ approvalId, target: "ops", status: "delivered", attempts: 1 });
    await gate.gate.closeSession(session, "done");
  });
});
