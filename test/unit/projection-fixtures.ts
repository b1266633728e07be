import { makeMetadata, type NewEvent, newEvent } from "../../src/events/index.ts";
import type { EventStore } from "../../src/eventstore/port.ts";

/**
 * A small, realistic log for read-model tests: a policy, a task with a sub-task, a credential
 * for it, a session with an allowed, a denied and a held (then approved) command, masked
 * output, an expired approval, and a revocation. Times are fixed so rows can be compared.
 */

export const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const meta = (seconds: number, extra: { sessionId?: string; taskId?: string; actor?: string } = {}) =>
  makeMetadata({ gatewayInstance: "gw-test", time: at(seconds), ...extra });

const agent = { subject: "agent-42", groups: ["agents"], kind: "agent" as const };
const dana = { subject: "dana", groups: ["dba"], kind: "human" as const };

export function decided(
  sessionId: string,
  commandId: string,
  seconds: number,
  fields: {
    command: string;
    decision?: "allow" | "deny" | "require_approval";
    rule?: string | null;
    kinds?: string[];
    relations?: string[];
    approvalId?: string;
    policyVersion?: number;
  },
): NewEvent {
  return newEvent(
    "CommandDecided",
    {
      sessionId,
      commandId,
      protocol: "postgres",
      command: fields.command,
      classification: { kinds: fields.kinds ?? ["select"], relations: fields.relations ?? [] },
      decision: fields.decision ?? "allow",
      rule: fields.rule === undefined ? "access:agents" : fields.rule,
      reason: `decided at ${seconds}s`,
      policyVersion: fields.policyVersion ?? 1,
      ...(fields.approvalId ? { approvalId: fields.approvalId } : {}),
    },
    meta(seconds, { sessionId, actor: agent.subject, taskId: "task-sub" }),
  );
}

export async function appendScenario(store: EventStore): Promise<void> {
  await store.append("policy", [
    newEvent(
      "PolicyVersionPublished",
      {
        version: 1,
        hash: "a".repeat(64),
        author: { subject: "admin-1", groups: ["admins"], kind: "human" },
        document: { targets: [{ name: "orders-db", protocol: "postgres", address: "127.0.0.1:5432" }] },
        diff: ["targets: +orders-db"],
      },
      meta(0, { actor: "admin-1" }),
    ),
  ]);
  await store.append("task-task-root", [
    newEvent("TaskDeclared", { taskId: "task-root", intent: "fix order 7", agent }, meta(1)),
  ]);
  await store.append("task-task-sub", [
    newEvent(
      "TaskDeclared",
      { taskId: "task-sub", parentTaskId: "task-root", intent: "read the order", agent },
      meta(2),
    ),
  ]);
  await store.append("credential-cred-1", [
    newEvent(
      "CredentialIssued",
      {
        credentialId: "cred-1",
        subject: agent,
        target: "orders-db",
        access: "read-write",
        taskId: "task-sub",
        expiresAt: at(900).toISOString(),
        tokenHash: "b".repeat(64),
        upstream: { mode: "static" },
      },
      meta(3),
    ),
  ]);
  const s = "sess-1";
  const stream = `session-${s}`;
  await store.append(stream, [
    newEvent(
      "SessionStarted",
      {
        sessionId: s,
        protocol: "postgres",
        target: "orders-db",
        identity: agent,
        credentialId: "cred-1",
        taskId: "task-sub",
        client: { address: "127.0.0.1:50000", application: "psql" },
      },
      meta(10, { sessionId: s }),
    ),
    decided(s, "c1", 11, {
      command: "SELECT email FROM public.orders WHERE id = 7",
      relations: ["public.orders"],
    }),
    newEvent(
      "CommandCompleted",
      {
        sessionId: s,
        commandId: "c1",
        status: "ok",
        durationMs: 1.5,
        rows: 1,
        tag: "SELECT 1",
        masked: [{ field: "email", rule: "pii", count: 1 }],
        output: "email\n****@example.com\n",
      },
      meta(11.1, { sessionId: s }),
    ),
    decided(s, "c2", 12, {
      command: "DROP TABLE orders",
      decision: "deny",
      rule: "no-drop",
      kinds: ["drop"],
      relations: ["orders"],
    }),
    decided(s, "c3", 13, {
      command: "UPDATE orders SET total = 0 WHERE id = 7",
      decision: "require_approval",
      rule: "approve-order-writes",
      kinds: ["update"],
      relations: ["orders"],
      approvalId: "appr-1",
    }),
  ]);
  await store.append("approval-appr-1", [
    newEvent(
      "ApprovalRequested",
      {
        approvalId: "appr-1",
        requester: agent,
        sessionId: s,
        taskId: "task-sub",
        target: "orders-db",
        command: "UPDATE orders SET total = 0 WHERE id = 7",
        classification: { kinds: ["update"] },
        rule: "approve-order-writes",
        policyVersion: 1,
        approverGroups: ["dba"],
        quorum: 1,
        anyDenyEnds: true,
        expiresAt: at(73).toISOString(),
      },
      meta(13),
    ),
    newEvent(
      "ApprovalVoteCast",
      { approvalId: "appr-1", voter: dana, vote: "approve", comment: "ok" },
      meta(20),
    ),
    newEvent("ApprovalGranted", { approvalId: "appr-1", approvers: ["dana"] }, meta(20)),
  ]);
  await store.append(stream, [
    newEvent(
      "CommandCompleted",
      { sessionId: s, commandId: "c3", status: "ok", durationMs: 3, rows: 1, tag: "UPDATE 1" },
      meta(21, { sessionId: s }),
    ),
    newEvent(
      "SessionEnded",
      { sessionId: s, reason: "client terminated", durationMs: 15_000 },
      meta(25, { sessionId: s }),
    ),
  ]);
  await store.append("approval-appr-2", [
    newEvent(
      "ApprovalRequested",
      {
        approvalId: "appr-2",
        requester: agent,
        target: "orders-db",
        command: "DELETE FROM orders",
        classification: { kinds: ["delete"] },
        rule: "approve-order-writes",
        policyVersion: 1,
        approverGroups: ["dba", "leads"],
        quorum: 2,
        anyDenyEnds: true,
        expiresAt: at(90).toISOString(),
      },
      meta(30),
    ),
    newEvent("ApprovalExpired", { approvalId: "appr-2" }, meta(90)),
  ]);
  await store.append("approval-appr-3", [
    newEvent(
      "ApprovalRequested",
      {
        approvalId: "appr-3",
        requester: agent,
        target: "orders-db",
        command: "TRUNCATE audit_tmp",
        classification: { kinds: ["truncate"] },
        rule: "approve-order-writes",
        policyVersion: 1,
        approverGroups: ["leads"],
        quorum: 1,
        anyDenyEnds: true,
        expiresAt: at(3600).toISOString(),
      },
      meta(40),
    ),
  ]);
  await store.append("credential-cred-1", [
    newEvent(
      "CredentialRevoked",
      {
        credentialId: "cred-1",
        by: { subject: "admin-1", groups: ["admins"], kind: "human" },
        reason: "done",
      },
      meta(100),
    ),
  ]);
}

/** Many sessions with commands, for load while a rebuild runs. */
export function busySession(n: number, commands: number): NewEvent[] {
  const s = `busy-${n}`;
  const events: NewEvent[] = [
    newEvent(
      "SessionStarted",
      {
        sessionId: s,
        protocol: "postgres",
        target: n % 2 ? "orders-db" : "billing-db",
        identity: { subject: `agent-${n % 3}`, groups: ["agents"] },
        client: { address: "127.0.0.1:1" },
      },
      meta(200 + n, { sessionId: s }),
    ),
  ];
  for (let c = 0; c < commands; c++) {
    events.push(
      decided(s, `${s}-c${c}`, 200 + n + c / 100, {
        command: `SELECT ${c} FROM items`,
        relations: ["items"],
      }),
    );
  }
  return events;
}

/** Every row of every read-model table, in a stable order: what "identical read models" compares. */
export function dumpTables(db: { prepare(sql: string): { all(): unknown[] } }, tables: readonly string[]) {
  const dump: Record<string, unknown[]> = {};
  for (const table of tables) {
    if (table === "audit_text") {
      // Contentless FTS tables: compare what they find instead of their rows.
      dump[table] = db.prepare(`SELECT rowid FROM ${table} ORDER BY rowid`).all();
      continue;
    }
    dump[table] = db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2`).all();
  }
  return dump;
}
