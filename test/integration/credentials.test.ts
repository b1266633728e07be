import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { CredentialService } from "../../src/gate/credentials.ts";
import { loadOrCreateSigningKey } from "../../src/identity/signing-key.ts";
import { collect, until } from "../support/events.ts";
import { policyFrom } from "../support/policy.ts";
import { bothSchedulers } from "../support/schedulers.ts";

const policyText = `
targets: [{ name: orders-db, protocol: postgres, address: "127.0.0.1:5432" }]
access:
  - { name: agents-orders, who: { groups: [agents] }, targets: [orders-db], level: read-write, maxTtl: 15m }
`;
const policy = policyFrom(policyText);
const agent = { subject: "agent-42", groups: ["agents"] };
const agentRef = { ...agent, kind: "agent" as const };

describe.each(bothSchedulers())("sub-task credentials (%s scheduler)", (_name, makeScheduler) => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-cred-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function setup() {
    const store = await SqliteEventStore.open({ path: join(dir, `${randomUUID()}.db`) });
    const key = await loadOrCreateSigningKey(join(dir, `${randomUUID()}.jwk`));
    const scheduler = makeScheduler();
    const service = new CredentialService({
      store,
      key,
      policy: () => policy,
      scheduler,
      gatewayInstance: "test",
    });
    await scheduler.start();
    const close = async () => {
      await scheduler.stop();
      await store.close();
    };
    return { store, service, close };
  }

  it("issues a scoped credential for a declared task, accepts it, and never logs the token", async () => {
    const { store, service, close } = await setup();
    const parent = await service.declareTask({ intent: "reconcile orders", agent: agentRef });
    const taskId = await service.declareTask({
      parentTaskId: parent,
      intent: "read order 7",
      agent: agentRef,
    });
    const issued = await service.issue({
      identity: agent,
      target: "orders-db",
      access: "read-only",
      taskId,
      ttlMs: 60_000,
    });
    const claims = await service.authenticate(issued.token);
    expect(claims).toMatchObject({
      credentialId: issued.credentialId,
      subject: "agent-42",
      target: "orders-db",
      access: "read-only",
      taskId,
    });
    const log = JSON.stringify(await collect(store.readAllRaw()), (_k, v) =>
      typeof v === "bigint" ? String(v) : v,
    );
    expect(log).toContain(issued.credentialId);
    expect(log).not.toContain(issued.token);
    expect(log).not.toContain(issued.token.split(".")[2]);
    await close();
  });

  it("refuses what the grant does not give, an unknown task, and a tampered token", async () => {
    const { service, close } = await setup();
    const taskId = await service.declareTask({ intent: "t", agent: agentRef });
    const ask = (over: object) =>
      service.issue({
        identity: agent,
        target: "orders-db",
        access: "read-only",
        taskId,
        ttlMs: 60_000,
        ...over,
      });
    await expect(ask({ access: "admin" })).rejects.toThrow(
      "no grant gives agent-42 admin access to orders-db",
    );
    await expect(ask({ ttlMs: 3_600_000 })).rejects.toThrow("may last at most 900s");
    await expect(ask({ target: "billing-db" })).rejects.toThrow(
      "agent-42 has no access grant for billing-db",
    );
    await expect(ask({ taskId: "nope" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(service.declareTask({ taskId, intent: "again", agent: agentRef })).rejects.toThrow(
      "exists already",
    );
    const { token } = await ask({});
    const [h, p, s] = token.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p as string, "base64url").toString()), access: "admin" })).toString("base64url")}.${s}`;
    await expect(service.authenticate(forged)).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    await close();
  });

  it("refuses a revoked credential at its next use", async () => {
    const { service, close } = await setup();
    const taskId = await service.declareTask({ intent: "t", agent: agentRef });
    const { credentialId, token } = await service.issue({
      identity: agent,
      target: "orders-db",
      access: "read-only",
      taskId,
      ttlMs: 60_000,
    });
    await service.revoke(credentialId, { subject: "ops", groups: [], kind: "human" }, "task finished");
    await expect(service.authenticate(token)).rejects.toThrow("credential revoked");
    await service.revoke(credentialId, { subject: "ops", groups: [], kind: "human" }, "again");
    expect((await service.state(credentialId)).status).toBe("revoked");
    await close();
  });

  it("expires a credential on schedule, once", async () => {
    const { store, service, close } = await setup();
    const taskId = await service.declareTask({ intent: "t", agent: agentRef });
    const { credentialId, token } = await service.issue({
      identity: agent,
      target: "orders-db",
      access: "read-only",
      taskId,
      ttlMs: 1_000,
    });
    const countExpired = async () =>
      (await collect(store.readStream(`credential-${credentialId}`))).filter(
        (e) => e.type === "CredentialExpired",
      ).length;
    await until(async () => (await countExpired()) > 0, 8_000);
    await expect(service.authenticate(token)).rejects.toThrow(
      /credential expired|gateway credential refused: expired/,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await countExpired()).toBe(1);
    await close();
  });
});
