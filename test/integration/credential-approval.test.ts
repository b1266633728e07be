import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SluiceError } from "../../src/errors.ts";
import { collect } from "../support/events.ts";
import { startTestGate, type TestGate } from "../support/gate.ts";

const agent = { subject: "agent-1", groups: ["agents"] };
const dana = { subject: "dana", groups: ["dba"], kind: "human" as const };

/** A grant may require a human's yes before a credential is issued at all. */
describe("approval before credential issuance", () => {
  let gate: TestGate;
  beforeAll(async () => {
    gate = await startTestGate(`
targets: [{ name: prod-db, protocol: postgres, address: "127.0.0.1:1" }]
access:
  - name: agents-prod
    who: { groups: [agents] }
    targets: [prod-db]
    level: read-write
    approval: { groups: [dba], timeout: 5m }
`);
  });
  afterAll(async () => gate?.close());

  it("asks the grant's approvers first, issues once they approve, and only for the request they saw", async () => {
    const taskId = await gate.credentials.declareTask({
      intent: "fix prod",
      agent: { ...agent, kind: "agent" },
    });
    const request = {
      identity: agent,
      target: "prod-db",
      access: "read-write" as const,
      taskId,
      ttlMs: 600_000,
    };
    const asked = (await gate.credentials.issue(request).catch((e) => e)) as SluiceError;
    expect(asked.code).toBe("APPROVAL_REQUIRED");
    const approvalId = String(asked.details.approvalId);
    expect(await gate.approvals.state(approvalId)).toMatchObject({
      status: "pending",
      request: { rule: "grant:agents-prod", approverGroups: ["dba"] },
    });
    await expect(gate.credentials.issue({ ...request, approvalId })).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringContaining("pending, not granted"),
    });
    await gate.approvals.vote(approvalId, dana, "approve");
    await expect(gate.credentials.issue({ ...request, ttlMs: 900_000, approvalId })).rejects.toMatchObject({
      message: expect.stringContaining("is not for this credential"),
    });
    const issued = await gate.credentials.issue({ ...request, approvalId });
    expect((await gate.credentials.state(issued.credentialId)).status).toBe("active");
    const issuedEvents = (await collect(gate.store.readAll())).filter((e) => e.type === "CredentialIssued");
    expect(issuedEvents).toHaveLength(1);
  });
});
