import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/eventstore/port.ts";
import { cancelRequest } from "../../src/proxy/postgres/codec/client-messages.ts";
import { collect, until } from "../support/events.ts";
import { type PgProxyFixture, startPgProxyFixture } from "../support/pg-proxy.ts";

const SEED = `
CREATE TABLE refunds (id serial PRIMARY KEY, amount int NOT NULL);
CREATE TABLE payouts (id serial PRIMARY KEY, amount int NOT NULL);`;

const dana = { subject: "dana", groups: ["dba"], kind: "human" as const };

/** Held statements in a live session: the agent waits, an approver decides, the statement runs or fails. */
describe("PostgreSQL proxy: just-in-time approval", () => {
  let fx: PgProxyFixture;
  beforeAll(async () => {
    fx = await startPgProxyFixture(
      (db, env) => `
targets: [{ name: app, protocol: postgres, address: "127.0.0.1:${db.port}", credential: { env: ${env} } }]
access: [{ name: agents, who: { groups: [agents] }, targets: [app], level: read-write }]
rules:
  - name: approve-refunds
    action: require_approval
    match: { sql: { readOnly: false, relations: [refunds] } }
    approval: { groups: [dba], timeout: 1m }
  - name: approve-payouts-quickly
    action: require_approval
    match: { sql: { readOnly: false, relations: [payouts] } }
    approval: { groups: [dba], timeout: 1s }
`,
      SEED,
    );
  });
  afterAll(async () => fx?.close());

  async function nextApproval(seen: Set<string>): Promise<string> {
    let id: string | undefined;
    await until(async () => {
      const events: RecordedEvent[] = await collect(fx.gate.store.readAll());
      id = events
        .filter((e) => e.type === "ApprovalRequested")
        .map((e) => (e.data as { approvalId: string }).approvalId)
        .find((a) => !seen.has(a));
      return id !== undefined;
    }, 10_000);
    seen.add(id as string);
    return id as string;
  }
  const seen = new Set<string>();

  it("psql: a held INSERT waits with a notice naming the approval, and runs once approved", async () => {
    const running = fx.psql(["-c", "INSERT INTO refunds(amount) VALUES (42)"]);
    const approvalId = await nextApproval(seen);
    expect((await fx.admin("SELECT count(*)::int AS n FROM refunds")).rows[0].n).toBe(0);
    await fx.gate.approvals.vote(approvalId, dana, "approve");
    const out = await running;
    expect(out.code).toBe(0);
    expect(out.stderr).toContain(`approval ${approvalId} is pending`);
    expect(out.stderr).toContain(`sluice approvals approve ${approvalId}`);
    expect(out.stdout).toContain("INSERT 0 1");
    expect((await fx.admin("SELECT amount FROM refunds")).rows).toEqual([{ amount: 42 }]);
  });

  it("node-postgres prepared statement: held then denied → 42501 with the approver's reason, session usable", async () => {
    const client = await fx.connect();
    const notices: string[] = [];
    client.on("notice", (n) => notices.push(n.message ?? ""));
    const held = client.query({
      name: "refund",
      text: "INSERT INTO refunds(amount) VALUES ($1)",
      values: [7],
    });
    const approvalId = await nextApproval(seen);
    await fx.gate.approvals.vote(approvalId, dana, "deny", "not during the freeze");
    await expect(held).rejects.toMatchObject({
      code: "42501",
      message: expect.stringContaining("approval denied"),
    });
    expect(notices.some((n) => n.includes(approvalId))).toBe(true);
    expect((await client.query("SELECT count(*)::int AS n FROM refunds")).rows[0].n).toBe(1);
    await client.end();
  });

  it("psql: held then denied → the error names the approver's decision; node-postgres prepared: held then approved → runs", async () => {
    const denied = fx.psql(["-c", "DELETE FROM refunds"]);
    const deniedId = await nextApproval(seen);
    await fx.gate.approvals.vote(deniedId, dana, "deny", "refunds are audited");
    const out = await denied;
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(
      /ERROR: {2}Sluice denied this statement \(rule approve-refunds\): approval denied/,
    );
    const client = await fx.connect();
    const held = client.query({
      name: "refund-ok",
      text: "INSERT INTO refunds(amount) VALUES ($1) RETURNING amount",
      values: [9],
    });
    await fx.gate.approvals.vote(await nextApproval(seen), dana, "approve");
    expect((await held).rows).toEqual([{ amount: 9 }]);
    await client.end();
  });

  it("held then expired → 42501 naming the expiry; psql and node-postgres alike", async () => {
    const out = await fx.psql(["-c", "INSERT INTO payouts(amount) VALUES (1)"]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/approval expired/);
    seen.add(await nextApproval(seen));
    const client = await fx.connect();
    await expect(
      client.query({ name: "payout", text: "INSERT INTO payouts(amount) VALUES ($1)", values: [2] }),
    ).rejects.toMatchObject({ code: "42501", message: expect.stringContaining("approval expired") });
    seen.add(await nextApproval(seen));
    await client.end();
    expect((await fx.admin("SELECT count(*)::int AS n FROM payouts")).rows[0].n).toBe(0);
  });

  it("a CancelRequest ends the wait (57014) and cancels the approval request", async () => {
    const client = await fx.connect();
    const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
    const held = client.query("UPDATE refunds SET amount = 0");
    const approvalId = await nextApproval(seen);
    const socket = connect(fx.proxy.port, "127.0.0.1", () => socket.end(cancelRequest(processID, secretKey)));
    await expect(held).rejects.toMatchObject({ code: "57014" });
    await until(async () => (await fx.gate.approvals.state(approvalId)).status === "cancelled");
    expect((await client.query("SELECT amount FROM refunds ORDER BY id LIMIT 1")).rows).toEqual([
      { amount: 42 },
    ]);
    await client.end();
  });
});
