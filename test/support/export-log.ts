import { createHash } from "node:crypto";
import { type EventInput, type EventType, makeMetadata, newEvent } from "../../src/events/index.ts";
import type { EventStore } from "../../src/eventstore/port.ts";
import { sealNow } from "../../src/eventstore/seal.ts";
import type { SigningKey } from "../../src/identity/signing-key.ts";

/**
 * A log holding every kind of event the catalogue has (but LedgerRangeRemoved, which retention
 * writes), with sessions on all four protocols, decisions of each kind and their completions,
 * approvals ending each way, credentials and upstream roles: what the export tests run on.
 * Events are one minute apart from START, two seals cover most of it, a short tail stays unsealed.
 */

export const START = Date.parse("2026-03-01T00:00:00.000Z");
const hash = (text: string) => createHash("sha256").update(text).digest("hex");

export interface FullLog {
  /** Every command decision: its session, protocol, decision, and how it completed. */
  commands: { commandId: string; protocol: string; decision: string; status?: string; command: string }[];
  sessions: { sessionId: string; protocol: string; groups: string[] }[];
  credentialsIssued: number;
  events: number;
}

export async function buildFullLog(store: EventStore, key: SigningKey): Promise<FullLog> {
  let minute = 0;
  const log: FullLog = { commands: [], sessions: [], credentialsIssued: 0, events: 0 };
  const at = () => new Date(START + minute++ * 60_000);
  const append = async <T extends EventType>(
    stream: string,
    type: T,
    data: EventInput<T>,
    context: { sessionId?: string; actor?: string } = {},
  ) => {
    await store.append(stream, [
      newEvent(
        type,
        data,
        makeMetadata({ gatewayInstance: "gw-1", time: at(), actor: "agent-7", ...context }),
      ),
    ]);
    log.events += 1;
  };
  const seal = async () => {
    const sealed = await sealNow(store, { key, gatewayInstance: "gw-1", now: at() });
    if (sealed) log.events += 1;
  };

  const agent = {
    subject: "agent-7",
    issuer: "https://idp.example",
    groups: ["agents", "readers"],
    kind: "agent" as const,
  };
  const human = { subject: "alice", groups: ["dba"], kind: "human" as const };
  await append(
    "policy",
    "PolicyVersionPublished",
    { version: 1, hash: hash("v1"), author: human, document: { targets: [] }, diff: ["+ target orders-db"] },
    { actor: "alice" },
  );
  await append("target-orders-db", "TargetRegistered", {
    name: "orders-db",
    protocol: "postgres",
    address: "10.0.0.5:5432",
    credentialRef: "env:ORDERS_DB_URL",
  });
  await append("target-orders-db", "TargetUpdated", {
    name: "orders-db",
    protocol: "postgres",
    address: "10.0.0.6:5432",
  });
  await append("task-t1", "TaskDeclared", { taskId: "t1", intent: "reconcile invoices", agent });
  await append("credential-c1", "CredentialIssued", {
    credentialId: "c1",
    subject: agent,
    target: "orders-db",
    access: "read-only",
    taskId: "t1",
    expiresAt: new Date(START + 3_600_000).toISOString(),
    tokenHash: hash("token-c1"),
    upstream: { mode: "ephemeral", role: "sluice_c1" },
  });
  log.credentialsIssued += 1;
  await append("credential-c1", "UpstreamRoleCreated", {
    credentialId: "c1",
    target: "orders-db",
    role: "sluice_c1",
    template: "readers",
    validUntil: new Date(START + 3_600_000).toISOString(),
  });

  const session = async (
    sessionId: string,
    protocol: "postgres" | "ssh" | "http" | "kubernetes",
    target: string,
    address: string,
    credentialId?: string,
  ) => {
    await append(
      `session-${sessionId}`,
      "SessionStarted",
      {
        sessionId,
        protocol,
        target,
        identity: agent,
        client: { address, application: protocol === "postgres" ? "psql" : "client" },
        ...(credentialId ? { credentialId, taskId: "t1" } : {}),
      },
      { sessionId },
    );
    log.sessions.push({ sessionId, protocol, groups: agent.groups });
    if (credentialId)
      await append(`credential-${credentialId}`, "CredentialUsed", { credentialId, sessionId });
  };
  let commandNo = 0;
  const command = async (
    sessionId: string,
    protocol: "postgres" | "ssh" | "http" | "kubernetes",
    text: string,
    classification: Record<string, unknown>,
    decision: "allow" | "deny" | "require_approval",
    completion?: EventInput<"CommandCompleted">["status"],
    approvalId?: string,
  ) => {
    const commandId = `cmd-${++commandNo}`;
    await append(
      `session-${sessionId}`,
      "CommandDecided",
      {
        sessionId,
        commandId,
        protocol,
        command: text,
        classification,
        decision,
        rule: decision === "deny" ? "no-drop" : decision === "allow" ? "agents-read" : "writes-need-approval",
        reason: `${decision} by rule`,
        policyVersion: 1,
        ...(approvalId ? { approvalId } : {}),
      },
      { sessionId },
    );
    log.commands.push({ commandId, protocol, decision, status: completion, command: text });
    return async () => {
      if (!completion) return;
      await append(
        `session-${sessionId}`,
        "CommandCompleted",
        {
          sessionId,
          commandId,
          status: completion,
          durationMs: 4.5,
          ...(completion === "ok" ? { rows: 3, tag: "SELECT 3" } : {}),
          ...(completion === "error"
            ? { error: { code: "42P01", message: 'relation "nope" does not exist' } }
            : {}),
          ...(completion === "denied" ? { error: { code: "FORBIDDEN", message: "denied" } } : {}),
          masked: completion === "ok" ? [{ field: "email", rule: "pii-email", count: 3 }] : [],
        },
        { sessionId },
      );
    };
  };
  const approval = async (approvalId: string, ending: "granted" | "denied" | "expired" | "cancelled") => {
    const stream = `approval-${approvalId}`;
    await append(stream, "ApprovalRequested", {
      approvalId,
      requester: agent,
      sessionId: "pg1",
      taskId: "t1",
      target: "orders-db",
      command: "UPDATE invoices SET paid = true",
      classification: { kinds: ["update"] },
      rule: "writes-need-approval",
      policyVersion: 1,
      approverGroups: ["dba"],
      quorum: 1,
      expiresAt: new Date(START + 7_200_000).toISOString(),
    });
    await append(`notification-${approvalId}`, "ApproverNotified", {
      approvalId,
      target: "slack",
      status: "delivered",
      attempts: 1,
      httpStatus: 200,
    });
    if (ending === "granted" || ending === "denied")
      await append(stream, "ApprovalVoteCast", {
        approvalId,
        voter: human,
        vote: ending === "granted" ? "approve" : "deny",
        comment: "checked",
      });
    if (ending === "granted") await append(stream, "ApprovalGranted", { approvalId, approvers: ["alice"] });
    if (ending === "denied")
      await append(stream, "ApprovalDenied", { approvalId, deniedBy: ["alice"], reason: "not today" });
    if (ending === "expired") await append(stream, "ApprovalExpired", { approvalId });
    if (ending === "cancelled")
      await append(stream, "ApprovalCancelled", { approvalId, reason: "session ended" });
  };

  // PostgreSQL: a read, a refused DROP, an approved UPDATE, a failing query whose text needs CSV quoting.
  await session("pg1", "postgres", "orders-db", "127.0.0.1:50432", "c1");
  await (
    await command(
      "pg1",
      "postgres",
      "SELECT id, email FROM customers",
      { kinds: ["select"], relations: ["public.customers"] },
      "allow",
      "ok",
    )
  )();
  await (
    await command(
      "pg1",
      "postgres",
      "DROP TABLE invoices",
      { kinds: ["drop_table"], relations: ["invoices"] },
      "deny",
      "denied",
    )
  )();
  const held = await command(
    "pg1",
    "postgres",
    "UPDATE invoices SET paid = true",
    { kinds: ["update"], relations: ["invoices"] },
    "require_approval",
    "ok",
    "a1",
  );
  await approval("a1", "granted");
  await held();
  await (
    await command(
      "pg1",
      "postgres",
      "SELECT 'a, \"b\"\nc' FROM nope",
      { kinds: ["select"], relations: ["nope"] },
      "allow",
      "error",
    )
  )();
  await append(
    "session-pg1",
    "SessionEnded",
    { sessionId: "pg1", reason: "client terminated", durationMs: 240_000 },
    { sessionId: "pg1" },
  );
  await seal();

  // SSH: an exec with recorded output.
  await session("ssh1", "ssh", "build-host", "[::1]:52022");
  const exec = await command(
    "ssh1",
    "ssh",
    "uname -a",
    { request: "exec", programs: ["uname"], sudo: false },
    "allow",
    "ok",
  );
  await append(
    "session-ssh1",
    "OutputRecorded",
    { sessionId: "ssh1", chunks: [{ offsetMs: 3, channel: "stdout", data: "Linux\n" }] },
    { sessionId: "ssh1" },
  );
  await exec();
  await append(
    "session-ssh1",
    "SessionEnded",
    { sessionId: "ssh1", reason: "exit 0", durationMs: 1200 },
    { sessionId: "ssh1" },
  );

  // HTTP and Kubernetes: a read, and a delete held for approval and denied.
  await session("web1", "http", "billing-api", "10.1.2.3:40000");
  await (
    await command(
      "web1",
      "http",
      "GET /v1/invoices?status=open",
      { method: "GET", path: "/v1/invoices", query: { status: "open" } },
      "allow",
      "ok",
    )
  )();
  await append(
    "session-web1",
    "SessionEnded",
    { sessionId: "web1", reason: "idle", durationMs: 30_000 },
    { sessionId: "web1" },
  );
  await session("k8s1", "kubernetes", "prod-cluster", "10.1.2.4");
  const del = await command(
    "k8s1",
    "kubernetes",
    "DELETE /api/v1/namespaces/shop/pods/web-1",
    {
      method: "DELETE",
      path: "/api/v1/namespaces/shop/pods/web-1",
      query: {},
      verb: "delete",
      resource: "pods",
      namespace: "shop",
      name: "web-1",
    },
    "require_approval",
    "denied",
    "a2",
  );
  await approval("a2", "denied");
  await del();
  await approval("a3", "expired");
  await approval("a4", "cancelled");
  await append(
    "session-k8s1",
    "SessionEnded",
    { sessionId: "k8s1", reason: "client closed", durationMs: 5000 },
    { sessionId: "k8s1" },
  );

  await append(
    "credential-c1",
    "CredentialRevoked",
    { credentialId: "c1", by: human, reason: "task done" },
    { actor: "alice" },
  );
  await append("credential-c1", "UpstreamRoleDropped", {
    credentialId: "c1",
    target: "orders-db",
    role: "sluice_c1",
    reason: "revoked",
    backendsTerminated: 0,
  });
  await append("credential-c2", "CredentialIssued", {
    credentialId: "c2",
    subject: agent,
    target: "build-host",
    access: "read-write",
    taskId: "t1",
    expiresAt: new Date(START + 3_600_000).toISOString(),
    tokenHash: hash("token-c2"),
  });
  log.credentialsIssued += 1;
  await append("credential-c2", "CredentialExpired", { credentialId: "c2" });
  await seal();

  // The unsealed tail: a decision still waiting for its completion when the log ends.
  await session("pg2", "postgres", "orders-db", "127.0.0.1");
  await command("pg2", "postgres", "SELECT 1", { kinds: ["select"], relations: [] }, "allow");
  // Last, so the positions above stay put: exports asked for through the API, one done, one failed.
  for (const [exportId, done] of [
    ["00000000-0000-4000-8000-0000000000e1", true],
    ["00000000-0000-4000-8000-0000000000e2", false],
  ] as const) {
    await append(`export-${exportId}`, "ExportRequested", { exportId, format: "csv", requestedBy: human });
    if (done)
      await append(`export-${exportId}`, "ExportCompleted", {
        exportId,
        manifestSha256: "a".repeat(64),
        events: 10,
        files: [{ name: "commands.csv", bytes: 100, sha256: "b".repeat(64) }],
      });
    else await append(`export-${exportId}`, "ExportFailed", { exportId, error: "disk full", attempts: 5 });
  }

  return log;
}
