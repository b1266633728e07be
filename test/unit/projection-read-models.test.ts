import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApprovalReads } from "../../projections/approvals.ts";
import { AuditSearch, ftsQuery } from "../../projections/audit-search.ts";
import { CredentialReads } from "../../projections/credentials.ts";
import { openReadModels, type ReadModelDb } from "../../projections/database.ts";
import { allProjections } from "../../projections/index.ts";
import { PolicyReads } from "../../projections/policy.ts";
import { ProjectionRunner } from "../../projections/runner.ts";
import { SessionReads } from "../../projections/sessions.ts";
import { TaskReads } from "../../projections/tasks.ts";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { makeTempDir } from "../support/tempdir.ts";
import { appendScenario, T0 } from "./projection-fixtures.ts";

describe("read models folded from a realistic log", () => {
  const dir = makeTempDir("projections");
  let store: SqliteEventStore;
  let db: ReadModelDb;
  let runner: ProjectionRunner;

  beforeAll(async () => {
    store = await SqliteEventStore.open({ path: join(dir.path, "sluice.db"), pollMs: 50 });
    await appendScenario(store);
    db = openReadModels(":memory:");
    runner = new ProjectionRunner({ store, db, projections: allProjections });
    await runner.catchUp();
  });
  afterAll(async () => {
    await runner.stop();
    db.close();
    await store.close();
    dir.remove();
  });

  it("keeps the policy versions and counts which rule decided what", () => {
    const policy = new PolicyReads(db);
    expect(policy.currentVersion()).toMatchObject({
      version: 1,
      author: "admin-1",
      diff: ["targets: +orders-db"],
      document: { targets: [{ name: "orders-db" }] },
    });
    expect(policy.ruleDecisions(1)).toEqual([
      {
        policyVersion: 1,
        rule: "access:agents",
        decision: "allow",
        count: 1,
        lastAt: "2026-03-01T10:00:11.000Z",
      },
      {
        policyVersion: 1,
        rule: "approve-order-writes",
        decision: "require_approval",
        count: 1,
        lastAt: "2026-03-01T10:00:13.000Z",
      },
      { policyVersion: 1, rule: "no-drop", decision: "deny", count: 1, lastAt: "2026-03-01T10:00:12.000Z" },
    ]);
  });

  it("keeps the approval queue: pending by group, history with outcome and votes", () => {
    const approvals = new ApprovalReads(db);
    expect(approvals.list({ status: "pending", limit: 10 }).map((a) => a.approvalId)).toEqual(["appr-3"]);
    // dana (dba) may vote on appr-1 and appr-2, never on appr-3 (leads only).
    expect(approvals.list({ groups: ["dba"], limit: 10 }).map((a) => a.approvalId)).toEqual([
      "appr-2",
      "appr-1",
    ]);
    expect(approvals.list({ groups: [], limit: 10 })).toEqual([]);
    expect(approvals.get("appr-1")).toMatchObject({
      status: "granted",
      requester: "agent-42",
      sessionId: "sess-1",
      approverGroups: ["dba"],
      approved: 1,
      denied: 0,
      requestedAt: "2026-03-01T10:00:13.000Z",
      endedAt: "2026-03-01T10:00:20.000Z",
      reason: "approved by dana",
    });
    expect(approvals.votes("appr-1")).toEqual([
      { voter: "dana", vote: "approve", comment: "ok", rule: null, castAt: "2026-03-01T10:00:20.000Z" },
    ]);
    expect(approvals.get("appr-2")).toMatchObject({ status: "expired", quorum: 2 });
  });

  it("keeps each session's timeline in log order, with its approval and masked output", () => {
    const sessions = new SessionReads(db);
    expect(sessions.get("sess-1")).toMatchObject({
      subject: "agent-42",
      target: "orders-db",
      credentialId: "cred-1",
      taskId: "task-sub",
      clientApplication: "psql",
      endReason: "client terminated",
      commands: 3,
      denied: 1,
      held: 1,
    });
    const timeline = sessions.timeline("sess-1", 0, 100);
    expect(timeline.map((e) => e.type)).toEqual([
      "SessionStarted",
      "CommandDecided",
      "CommandCompleted",
      "CommandDecided",
      "CommandDecided",
      "ApprovalRequested",
      "ApprovalVoteCast",
      "ApprovalGranted",
      "CommandCompleted",
      "SessionEnded",
    ]);
    expect(timeline[2]?.data).toMatchObject({
      output: "email\n****@example.com\n",
      masked: [{ field: "email" }],
    });
    // Paging by position continues where the previous page ended.
    const second = sessions.timeline("sess-1", (timeline[4] as { position: number }).position, 2);
    expect(second.map((e) => e.type)).toEqual(["ApprovalRequested", "ApprovalVoteCast"]);
    expect(sessions.commandEvents("sess-1", "c3").map((e) => e.type)).toEqual([
      "CommandDecided",
      "CommandCompleted",
    ]);
    expect(sessions.list({ taskId: "task-sub", limit: 5 }).map((s) => s.sessionId)).toEqual(["sess-1"]);
  });

  it("keeps the task tree and the credential ledger", () => {
    const tasks = new TaskReads(db);
    expect(tasks.list({ rootsOnly: true, limit: 10 }).map((t) => t.taskId)).toEqual(["task-root"]);
    expect(tasks.list({ parentTaskId: "task-root", limit: 10 })).toMatchObject([
      { taskId: "task-sub", intent: "read the order", agent: "agent-42" },
    ]);
    const credentials = new CredentialReads(db);
    expect(credentials.get("cred-1")).toMatchObject({
      subject: "agent-42",
      taskId: "task-sub",
      status: "revoked",
      revokedBy: "admin-1",
      revokeReason: "done",
      uses: 1,
      lastUsedAt: "2026-03-01T10:00:10.000Z",
      upstreamMode: "static",
    });
    expect(credentials.list({ subject: "agent-42", status: "active", limit: 10 })).toEqual([]);
  });

  it("searches the audit index by agent, time, target, task, decision, rule, kind, relation and text", () => {
    const audit = new AuditSearch(db);
    const ids = (query: Parameters<AuditSearch["search"]>[0]) => audit.search(query).map((c) => c.commandId);
    expect(ids({ subject: "agent-42", limit: 10 })).toEqual(["c3", "c2", "c1"]);
    expect(ids({ subject: "agent-42", fromMs: T0 + 11_500, toMs: T0 + 12_500, limit: 10 })).toEqual(["c2"]);
    expect(ids({ subject: "someone-else", limit: 10 })).toEqual([]);
    expect(ids({ target: "orders-db", taskId: "task-sub", limit: 10 })).toEqual(["c3", "c2", "c1"]);
    expect(ids({ decision: "deny", limit: 10 })).toEqual(["c2"]);
    expect(ids({ decision: "allow", limit: 10 })).toEqual(["c1"]);
    expect(ids({ rule: "approve-order-writes", limit: 10 })).toEqual(["c3"]);
    expect(ids({ kind: "UPDATE", limit: 10 })).toEqual(["c3"]);
    // Schema-qualified relations are found by their bare name too, not the other way round.
    expect(ids({ relation: "orders", limit: 10 })).toEqual(["c3", "c2", "c1"]);
    expect(ids({ relation: "public.orders", limit: 10 })).toEqual(["c1"]);
    expect(ids({ text: "total id", limit: 10 })).toEqual(["c3"]);
    expect(ids({ text: "ord*", decision: "deny", limit: 10 })).toEqual(["c2"]);
    expect(ids({ text: '" OR 1 --', limit: 10 })).toEqual([]);
    expect(ids({ text: "!!!", limit: 10 })).toEqual([]);
    const [first] = audit.search({ subject: "agent-42", limit: 1 });
    expect(first).toMatchObject({ commandId: "c3", approvalId: "appr-1", policyVersion: 1 });
    const next = audit.search({
      subject: "agent-42",
      before: { atMs: first?.atMs ?? 0, position: first?.position ?? 0 },
      limit: 5,
    });
    expect(next.map((c) => c.commandId)).toEqual(["c2", "c1"]);
  });

  it("quotes every word of free text, so nothing typed is FTS syntax", () => {
    expect(ftsQuery('orders "x" NEAR(a b) col:*')).toBe('"orders" "x" "NEAR" "a" "b" "col"');
    expect(ftsQuery("upd* total")).toBe('"upd"* "total"');
  });

  it("reports each read model's checkpoint against the head of the log", async () => {
    const head = await store.headPosition();
    const status = await runner.status();
    expect(status.map((s) => s.name)).toEqual([
      "policy",
      "approvals",
      "sessions",
      "tasks",
      "credentials",
      "audit",
    ]);
    for (const s of status) expect(s).toMatchObject({ position: head, head, lag: 0n });
  });
});
