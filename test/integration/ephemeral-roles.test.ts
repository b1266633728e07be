import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { CredentialService } from "../../src/gate/credentials.ts";
import { loadOrCreateSigningKey } from "../../src/identity/signing-key.ts";
import { PostgresRoleManager } from "../../src/identity/upstream/postgres-roles.ts";
import { collect, until } from "../support/events.ts";
import { policyFrom } from "../support/policy.ts";
import { type PostgresServer, startPostgres } from "../support/postgres.ts";
import { bothSchedulers } from "../support/schedulers.ts";

const policyText = `
targets:
  - { name: orders-db, protocol: postgres, address: "127.0.0.1:5432", ephemeralRole: { template: orders_readonly } }
access:
  - { name: agents-orders, who: { groups: [agents] }, targets: [orders-db], level: read-only, maxTtl: 15m }
`;
const policy = policyFrom(policyText);
const agent = { subject: "agent-42", groups: ["agents"] };

describe.each(bothSchedulers())("ephemeral PostgreSQL roles (%s scheduler)", (_name, makeScheduler) => {
  let server: PostgresServer;
  const dir = mkdtempSync(join(tmpdir(), "sluice-roles-"));
  const dbPath = join(dir, "sluice.db");

  beforeAll(async () => {
    server = await startPostgres();
    await sql(server.url, [
      "CREATE TABLE orders (id int, total int)",
      "INSERT INTO orders VALUES (1, 10)",
      "CREATE TABLE secrets (v text)",
      "CREATE ROLE orders_readonly NOLOGIN",
      "GRANT SELECT ON orders TO orders_readonly",
    ]);
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function gateway() {
    const store = await SqliteEventStore.open({ path: dbPath });
    const key = await loadOrCreateSigningKey(join(dir, "key.jwk"));
    const scheduler = makeScheduler();
    const manager = new PostgresRoleManager(server.url);
    const service = new CredentialService({
      store,
      key,
      policy: () => policy,
      scheduler,
      gatewayInstance: "test",
      roles: (target) => (target === "orders-db" ? manager : undefined),
    });
    await scheduler.start();
    const taskId = await service.declareTask({ intent: "read orders", agent: { ...agent, kind: "agent" } });
    const stop = async () => {
      await scheduler.stop();
      await store.close();
    };
    return { store, service, manager, taskId, stop };
  }

  it("exists while valid, can only do what its template allows, and is gone after revocation with its sessions", async () => {
    const { store, service, manager, taskId, stop } = await gateway();
    const { credentialId } = await service.issue({
      identity: agent,
      target: "orders-db",
      access: "read-only",
      taskId,
      ttlMs: 60_000,
    });
    const role = PostgresRoleManager.roleName(credentialId);
    expect(await roleExists(role)).toBe(true);

    const password = await manager.password(role);
    const asRole = new pg.Client({
      connectionString: server.url.replace(/\/\/[^@]+@/, `//${role}:${password}@`),
    });
    asRole.on("error", () => {});
    await asRole.connect();
    expect((await asRole.query("SELECT total FROM orders")).rows).toEqual([{ total: 10 }]);
    await expect(asRole.query("INSERT INTO orders VALUES (2, 20)")).rejects.toThrow(/permission denied/);
    await expect(asRole.query("SELECT * FROM secrets")).rejects.toThrow(/permission denied/);

    await service.revoke(credentialId, { subject: "ops", groups: [], kind: "human" }, "done");
    await until(async () => !(await roleExists(role)), 10_000);
    await expect(asRole.query("SELECT 1")).rejects.toThrow();
    const events = await collect(store.readStream(`credential-${credentialId}`));
    expect(events.map((e) => e.type)).toEqual([
      "CredentialIssued",
      "UpstreamRoleCreated",
      "CredentialRevoked",
      "UpstreamRoleDropped",
    ]);
    expect(events[3]).toMatchObject({ data: { role, reason: "revoked", backendsTerminated: 1 } });
    const log = JSON.stringify(await collect(store.readAllRaw()), (_k, v) =>
      typeof v === "bigint" ? String(v) : v,
    );
    expect(log).toContain(role);
    expect(log).not.toContain(password);
    await stop();
  });

  it("is dropped at expiry", async () => {
    const { store, service, taskId, stop } = await gateway();
    const { credentialId } = await service.issue({
      identity: agent,
      target: "orders-db",
      access: "read-only",
      taskId,
      ttlMs: 1_000,
    });
    const role = PostgresRoleManager.roleName(credentialId);
    expect(await roleExists(role)).toBe(true);
    await until(async () => !(await roleExists(role)), 10_000);
    await until(
      async () => (await collect(store.readStream(`credential-${credentialId}`))).length === 4,
      5_000,
    );
    const types = (await collect(store.readStream(`credential-${credentialId}`))).map((e) => e.type);
    expect(types).toEqual([
      "CredentialIssued",
      "UpstreamRoleCreated",
      "CredentialExpired",
      "UpstreamRoleDropped",
    ]);
    await stop();
  });

  it("does not leak a role when the gateway was down at expiry, nor an orphan from a failed issue", async () => {
    const first = await gateway();
    const { credentialId } = await first.service.issue({
      identity: agent,
      target: "orders-db",
      access: "read-only",
      taskId: first.taskId,
      ttlMs: 1_000,
    });
    const role = PostgresRoleManager.roleName(credentialId);
    await first.stop(); // the gateway goes down before the expiry job runs
    const orphan = randomUUID();
    await first.manager.create(orphan, "orders_readonly", new Date(Date.now() + 60_000));
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(await roleExists(role)).toBe(true);

    const second = await gateway();
    const result = await second.service.reconcileRoles(["orders-db"]);
    expect(result).toEqual({ dropped: 1, rearmed: 1 });
    await until(async () => !(await roleExists(role)), 10_000);
    expect(await roleExists(PostgresRoleManager.roleName(orphan))).toBe(false);
    expect(await second.manager.list()).toEqual([]);
    await second.stop();
  });

  async function roleExists(role: string): Promise<boolean> {
    const rows = await sql(server.url, [`SELECT 1 FROM pg_roles WHERE rolname = '${role}'`]);
    return rows.length > 0;
  }
});

async function sql(url: string, statements: string[]): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let rows: unknown[] = [];
  try {
    for (const statement of statements) rows = (await client.query(statement)).rows;
  } finally {
    await client.end();
  }
  return rows;
}
