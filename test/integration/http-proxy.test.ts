import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpProxyConfig } from "../../src/proxy/http/config.ts";
import { startHttpProxy } from "../../src/proxy/http/server.ts";
import type { TestGate } from "../support/gate.ts";
import {
  curl,
  type Harness,
  sre,
  startHarness,
  UPSTREAM_TOKEN,
  type Upstream,
} from "../support/http-harness.ts";
import { LOOPBACK } from "../support/ports.ts";

/**
 * The HTTP port with real clients (fetch, curl) against a real upstream: the gateway's
 * credential upstream and never back, routing by host name and path prefix, refusals, denial
 * naming the rule, holds granted, denied and answered 202, and one session per token.
 */

describe("the HTTP proxy port", () => {
  let h: Harness;
  let upstream: Upstream;
  let gate: TestGate;
  let base: string;
  let token: string;
  beforeAll(async () => {
    h = await startHarness();
    ({ upstream, gate, base, token } = h);
  });
  afterAll(async () => {
    await h?.close();
  });
  const get: Harness["get"] = (...args) => h.get(...args);
  const events = () => h.events();
  const recorded = (command: string) => h.recorded(command);
  const nextApproval = (after: number) => h.nextApproval(after);
  const approvalCount = () => h.approvalCount();

  it("forwards a read with the gateway's credential; the agent's token and the upstream's never cross", async () => {
    const response = await get("/orders/v1/echo", { cookie: "session=agent-cookie" });
    expect(response.status).toBe(200);
    const seen = upstream.received.at(-1);
    expect(seen?.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
    expect(JSON.stringify(seen?.headers)).not.toContain(token);
    // The upstream echoed the gateway's credential: it reaches the agent scrubbed, in headers and body.
    expect(response.headers.get("x-seen-authorization")).toBe("Bearer «redacted:upstream_credential»");
    const body = await response.text();
    expect(body).not.toContain(UPSTREAM_TOKEN);
    // Masked by the bearer_token detector before the scrubber would have replaced it.
    expect(JSON.parse(body).headers.authorization).toMatch(
      /^Bearer «redacted:(bearer_token|upstream_credential)»$/,
    );

    const { decided, completed } = await recorded("GET /v1/echo");
    expect(decided).toMatchObject({
      decision: "allow",
      protocol: "http",
      classification: { method: "GET", path: "/v1/echo" },
    });
    expect(completed).toMatchObject({ status: "ok", tag: "200 OK" });
    const output = completed.output as string;
    for (const secret of [token, UPSTREAM_TOKEN]) expect(output).not.toContain(secret);
    const record = JSON.parse(output);
    expect(record).toMatchObject({
      request: { headers: { host: expect.any(String) } },
      response: { status: 200 },
    });
    // Headers are kept without credentials or cookies (the echoed body is the upstream's answer).
    expect(Object.keys(record.request.headers)).not.toContain("cookie");
    expect(Object.keys(record.request.headers)).not.toContain("authorization");
  });

  it("routes by Host header to the target's hostnames (curl)", async () => {
    const out = await curl([
      "-sS",
      "-H",
      "Host: orders.internal",
      "-H",
      `Authorization: Bearer ${token}`,
      `${base}/v1/anything`,
    ]);
    expect(JSON.parse(out)).toEqual({ path: "/v1/anything" });
    const unknown = await fetch(`${base}/nowhere/v1`, { headers: { authorization: `Bearer ${token}` } });
    expect(unknown.status).toBe(404);
  });

  it("denies with 403 naming the rule, records it, and never reaches the upstream", async () => {
    const before = upstream.received.length;
    const response = await get("/orders/v1/admin/users");
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      error: "forbidden",
      rule: "no-admin",
      message: expect.stringContaining("the admin API is off limits to agents"),
    });
    expect(upstream.received.length).toBe(before);
    const { decided, completed } = await recorded("GET /v1/admin/users");
    expect(decided).toMatchObject({ decision: "deny", rule: "no-admin" });
    expect(completed).toMatchObject({ status: "denied" });
  });

  it("refuses requests without a valid bearer token, and ambiguous paths", async () => {
    expect((await fetch(`${base}/orders/v1/orders/7`)).status).toBe(401);
    const forged = await fetch(`${base}/orders/v1/orders/7`, {
      headers: { authorization: "Bearer not-a-token" },
    });
    expect(forged.status).toBe(401);
    const dotted = await curl([
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "--path-as-is",
      "-H",
      `Authorization: Bearer ${token}`,
      `${base}/orders/v1/orders/%2e%2e/admin/users`,
    ]);
    expect(dotted).toBe("400");
  });

  it("holds a request until an approver grants it, then runs it", async () => {
    const before = await approvalCount();
    const pending = get("/orders/v1/orders/9", {}, { method: "DELETE" });
    const approvalId = await nextApproval(before);
    expect(upstream.received.some((r) => r.method === "DELETE")).toBe(false);
    await gate.approvals.vote(approvalId, sre, "approve");
    const response = await pending;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ deleted: "/v1/orders/9" });
    const { decided, completed } = await recorded("DELETE /v1/orders/9");
    expect(decided).toMatchObject({ decision: "require_approval", approvalId });
    expect(completed.status).toBe("ok");
  });

  it("answers 403 when the approver denies the held request", async () => {
    const before = await approvalCount();
    const pending = get("/orders/v1/orders/7", {}, { method: "DELETE" });
    await gate.approvals.vote(await nextApproval(before), sre, "deny", "not during the sale");
    const response = await pending;
    expect(response.status).toBe(403);
    expect(((await response.json()) as { message: string }).message).toContain("not during the sale");
  });

  it("answers 202 with the approval id after the hold wait; the identical retry runs once approved", async () => {
    const quick = await startHttpProxy(
      httpProxyConfig.parse({ port: 0, tls: { mode: "disabled" }, holdWaitSeconds: 0.2 }),
      gate.context(),
    );
    try {
      const url = `http://${LOOPBACK}:${quick.port}/orders/v1/orders/7`;
      const init = { method: "DELETE", headers: { authorization: `Bearer ${token}` } };
      const first = await fetch(url, init);
      expect(first.status).toBe(202);
      const body = (await first.json()) as { message: string };
      const approvalId = first.headers.get("sluice-approval-id");
      expect(body).toMatchObject({ error: "pending_approval", approvalId, rule: "approve-deletes" });
      expect(body.message).toMatch(/identical request with the same token runs \(for 10m after approval\)/);
      await gate.approvals.vote(approvalId as string, sre, "approve");
      await sleep(200); // the grant reaches the session through its subscription
      const retry = await fetch(url, init);
      expect(retry.status).toBe(200);
      const { decided } = await recorded("DELETE /v1/orders/7");
      expect(decided).toMatchObject({ decision: "allow", approvalId });
    } finally {
      await quick.close();
    }
  });

  it("answers 504 when the upstream is slow and 502 when it is away, and records both", async () => {
    const impatient = await startHttpProxy(
      httpProxyConfig.parse({
        port: 0,
        tls: { mode: "disabled" },
        upstream: { responseTimeoutSeconds: 0.3 },
      }),
      gate.context(),
    );
    try {
      const slow = await fetch(`http://${LOOPBACK}:${impatient.port}/orders/v1/slow`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(slow.status).toBe(504);
      expect(await slow.json()).toMatchObject({
        error: "timeout",
        message: "the upstream did not answer in time",
      });
      const { token: goneToken } = await gate.credential({ target: "gone" });
      const away = await fetch(`http://${LOOPBACK}:${impatient.port}/gone/v1`, {
        headers: { authorization: `Bearer ${goneToken}` },
      });
      expect(away.status).toBe(502);
      expect(((await away.json()) as { message: string }).message).toContain("ECONNREFUSED");
      const { completed } = await h.recorded("GET /v1/slow");
      expect(completed).toMatchObject({ status: "error", error: { code: "UPSTREAM_TIMEOUT" } });
    } finally {
      await impatient.close();
    }
  });

  it("keeps one session per token and port, ended (SessionEnded) when the port closes", async () => {
    const all = await events();
    const started = all.filter((e) => e.type === "SessionStarted" && e.data.target === "orders");
    // Every request above shared one session on this port; the 202 and the 504 tests' ports had their own.
    expect(started).toHaveLength(3);
    const ended = new Set(
      all.filter((e) => e.type === "SessionEnded").map((e) => (e.data as { sessionId: string }).sessionId),
    );
    const open = started.filter((e) => !ended.has((e.data as { sessionId: string }).sessionId));
    expect(open).toHaveLength(1);
  });
});
