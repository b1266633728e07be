import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClassifiedCommand } from "../../src/domain/policy/command.ts";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { ApprovalService } from "../../src/gate/approvals.ts";
import { classifySql, initSqlClassifier } from "../../src/gate/classify/sql.ts";
import { CredentialService } from "../../src/gate/credentials.ts";
import { Gate, type Session } from "../../src/gate/gate.ts";
import { loadOrCreateSigningKey } from "../../src/identity/signing-key.ts";
import { InProcessScheduler } from "../../src/jobs/in-process.ts";
import { collect } from "../support/events.ts";
import { policyFrom } from "../support/policy.ts";

const policy = policyFrom(`
targets: [{ name: orders-db, protocol: postgres, address: "127.0.0.1:5432" }, { name: billing-db, protocol: postgres, address: "127.0.0.1:5433" }]
access:
  - { name: agents, who: { groups: [agents] }, targets: ["*"], level: read-write, maxTtl: 15m }
rules:
  - { name: no-drop, action: deny, reason: "DROP is never run through agents", match: { sql: { flags: [drop] } } }
  - name: approve-order-writes
    action: require_approval
    match: { targets: [orders-db], sql: { readOnly: false, relations: [orders] } }
    approval: { groups: [dba], timeout: 1m }
  - name: auto-approve-audit-reads
    action: require_approval
    match: { sql: { relations: [audit_log], readOnly: true } }
    approval: { groups: [dba], autoApprove: { days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "00:00" } }
  - name: approve-refunds
    action: require_approval
    match: { sql: { relations: [refunds] } }
    approval: { groups: [dba], timeout: 1m, reuseWithin: 10m }
`);
const sql = (text: string): ClassifiedCommand => ({ protocol: "postgres", text, sql: classifySql(text) });
const agent = { subject: "agent-42", groups: ["agents"] };
const dana = { subject: "dana", groups: ["dba"], kind: "human" as const };

describe("the gate", () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-gate-"));
  let store: SqliteEventStore;
  let gate: Gate;
  let approvals: ApprovalService;
  let credentials: CredentialService;
  let scheduler: InProcessScheduler;
  let token: string;
  let credentialId: string;

  beforeAll(async () => {
    await initSqlClassifier();
    store = await SqliteEventStore.open({ path: join(dir, "sluice.db"), pollMs: 50 });
    scheduler = new InProcessScheduler();
    const key = await loadOrCreateSigningKey(join(dir, "key.jwk"));
    credentials = new CredentialService({
      store,
      key,
      policy: () => policy,
      scheduler,
      gatewayInstance: "gw",
    });
    approvals = new ApprovalService({ store, scheduler, gatewayInstance: "gw" });
    gate = new Gate({ store, policy: () => policy, credentials, approvals, gatewayInstance: "gw" });
    await scheduler.start();
    const taskId = await credentials.declareTask({
      intent: "fix order 7",
      agent: { ...agent, kind: "agent" },
    });
    ({ token, credentialId } = await credentials.issue({
      identity: agent,
      target: "orders-db",
      access: "read-write",
      taskId,
      ttlMs: 600_000,
    }));
  });
  afterAll(async () => {
    await scheduler.stop();
    await store.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  const open = async (): Promise<Session> =>
    gate.openSession({
      principal: await gate.authenticate(token),
      target: "orders-db",
      protocol: "postgres",
      client: { address: "127.0.0.1:5000" },
    });
  const sessionEvents = async (session: Session) => collect(store.readStream(`session-${session.sessionId}`));

  it("records the decision durably before it allows, and keeps the session usable after a denial", async () => {
    const session = await open();
    const allowed = await gate.decide(session, sql("SELECT * FROM orders WHERE id = 7"));
    expect(allowed).toMatchObject({ kind: "allow", rule: "access:agents" });
    const decided = (await sessionEvents(session)).find((e) => e.type === "CommandDecided");
    expect(decided?.data).toMatchObject({
      commandId: allowed.commandId,
      decision: "allow",
      policyVersion: 1,
    });

    expect(await gate.decide(session, sql("DROP TABLE orders"))).toMatchObject({
      kind: "deny",
      rule: "no-drop",
      reason: "DROP is never run through agents",
    });
    expect((await gate.decide(session, sql("SELECT 1"))).kind).toBe("allow");
    await gate.complete(session, allowed.commandId, {
      status: "ok",
      durationMs: 1.2,
      rows: 1,
      tag: "SELECT 1",
      masked: [],
    });
    await gate.closeSession(session, "client terminated");
    expect((await sessionEvents(session)).map((e) => e.type)).toEqual([
      "SessionStarted",
      "CommandDecided",
      "CommandDecided",
      "CommandDecided",
      "CommandCompleted",
      "SessionEnded",
    ]);
  });

  it("holds a risky command until an approver decides", async () => {
    const session = await open();
    const held = await gate.decide(session, sql("UPDATE orders SET total = 0 WHERE id = 7"));
    if (held.kind !== "hold") throw new Error(`expected a hold, got ${held.kind}`);
    const waiting = held.wait();
    await approvals.vote(held.approvalId, dana, "approve");
    expect(await waiting).toMatchObject({ kind: "allow", commandId: held.commandId });

    const second = await gate.decide(session, sql("DELETE FROM orders WHERE id = 8"));
    if (second.kind !== "hold") throw new Error("expected a hold");
    const denied = second.wait();
    await approvals.vote(second.approvalId, dana, "deny", "not today");
    expect(await denied).toMatchObject({ kind: "deny", reason: "approval denied: not today" });

    const third = await gate.decide(session, sql("UPDATE orders SET total = 1 WHERE id = 9"));
    if (third.kind !== "hold") throw new Error("expected a hold");
    const cancelled = third.wait();
    await gate.closeSession(session, "agent disconnected");
    expect(await cancelled).toMatchObject({
      kind: "deny",
      reason: "approval cancelled: session ended: agent disconnected",
    });
  });

  it("lets policy approve by itself inside the rule's window, recorded as a vote naming the rule", async () => {
    const session = await open();
    const held = await gate.decide(session, sql("SELECT * FROM audit_log"));
    if (held.kind !== "hold") throw new Error(`expected a hold, got ${held.kind}`);
    expect(await held.wait()).toMatchObject({ kind: "allow", commandId: held.commandId });
    const votes = (await collect(store.readStream(`approval-${held.approvalId}`))).map((e) => e.type);
    expect(votes).toEqual(["ApprovalRequested", "ApprovalVoteCast", "ApprovalGranted"]);
    const [, vote] = await collect(store.readStream(`approval-${held.approvalId}`));
    expect(vote?.data).toMatchObject({ vote: "approve", rule: "auto-approve-audit-reads" });
    await gate.closeSession(session, "done");
  });

  it("cancels one held command's approval when the agent stops waiting for it", async () => {
    const session = await open();
    const held = await gate.decide(session, sql("UPDATE orders SET total = 1 WHERE id = 9"));
    if (held.kind !== "hold") throw new Error(`expected a hold, got ${held.kind}`);
    const waiting = held.wait();
    await gate.cancelApproval(session, held.approvalId, "the agent left");
    expect(await waiting).toMatchObject({ kind: "deny", reason: expect.stringContaining("cancelled") });
    expect((await approvals.state(held.approvalId)).status).toBe("cancelled");
    await gate.closeSession(session, "done");
  });

  it("covers the exact command once, or identical re-runs within the policy's reuse window", async () => {
    const session = await open();
    const approveNext = async (text: string) => {
      const held = await gate.decide(session, sql(text));
      if (held.kind !== "hold") throw new Error(`expected a hold for ${text}`);
      const waiting = held.wait();
      await approvals.vote(held.approvalId, dana, "approve");
      expect((await waiting).kind).toBe("allow");
      return held.approvalId;
    };
    // approve-order-writes has no reuse window: the same command needs a new approval.
    await approveNext("UPDATE orders SET total = 0 WHERE id = 7");
    expect((await gate.decide(session, sql("UPDATE orders SET total = 0 WHERE id = 7"))).kind).toBe("hold");
    // approve-refunds reuses a grant for 10 minutes, for that exact command only.
    const approvalId = await approveNext("SELECT * FROM refunds WHERE id = 1");
    expect(await gate.decide(session, sql("SELECT * FROM refunds WHERE id = 1"))).toMatchObject({
      kind: "allow",
    });
    expect((await gate.decide(session, sql("SELECT * FROM refunds WHERE id = 2"))).kind).toBe("hold");
    const decided = (await sessionEvents(session)).filter((e) => e.type === "CommandDecided").at(-2);
    expect(decided?.data).toMatchObject({
      decision: "allow",
      rule: "approve-refunds",
      approvalId,
      reason: `covered by approval ${approvalId} of this exact command`,
    });
    await gate.closeSession(session, "done");
    // Another session of the same sub-task (same credential) is covered too, within the window.
    const sibling = await open();
    expect(await gate.decide(sibling, sql("SELECT * FROM refunds WHERE id = 1"))).toMatchObject({
      kind: "allow",
    });
    await gate.closeSession(sibling, "done");
  });

  it("binds a credential to its target and refuses it at the next command once revoked", async () => {
    const principal = await gate.authenticate(token);
    await expect(
      gate.openSession({ principal, target: "billing-db", protocol: "postgres", client: { address: "x" } }),
    ).rejects.toThrow("this credential is for orders-db, not billing-db");
    const session = await open();
    expect((await gate.decide(session, sql("SELECT 1"))).kind).toBe("allow");
    await credentials.revoke(credentialId, dana, "task finished");
    expect(await gate.decide(session, sql("SELECT 1"))).toMatchObject({
      kind: "deny",
      reason: "credential revoked: the session must end",
    });
    await expect(gate.authenticate(token)).rejects.toThrow("credential revoked");
  });

  it("fails closed: when the log cannot record the decision, the command is denied, nothing throws", async () => {
    const session = await gate.openSession({
      principal: { subject: "agent-42", groups: ["agents"] },
      target: "orders-db",
      protocol: "postgres",
      client: { address: "x" },
    });
    await store.close();
    const verdict = await gate.decide(session, sql("SELECT 1"));
    expect(verdict).toMatchObject({
      kind: "deny",
      reason: expect.stringMatching(
        /^the audit log cannot record this decision, so the command is refused \(STORE_CLOSED\)$/,
      ),
    });
  });
});
