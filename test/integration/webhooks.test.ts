import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import {
  type ApprovalNotice,
  type DeliveryOutcome,
  verifyWebhookSignature,
  WebhookNotifier,
  type WebhookTarget,
} from "../../src/gate/notify/webhooks.ts";
import type { Scheduler } from "../../src/jobs/scheduler.ts";
import { until } from "../support/events.ts";
import { LOOPBACK } from "../support/ports.ts";
import { bothSchedulers } from "../support/schedulers.ts";

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver on a free loopback port; `answer(n)` gives the status for the n-th request (1-based). */
async function startReceiver(answer: (n: number) => number | "hang" = () => 200) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      received.push({
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const status = answer(received.length);
      if (status === "hang") return;
      if (status >= 300 && status < 400) res.setHeader("location", "/stolen");
      res.writeHead(status).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { url: `http://${LOOPBACK}:${port}/hooks/token-abc`, received, close };
}

const notice: ApprovalNotice = {
  approvalId: "appr-7",
  requester: "agent-42",
  target: "orders-db",
  command: "DELETE FROM orders WHERE created_at < now() - interval '1 year'",
  rule: "deletes-need-approval",
  approverGroups: ["dba", "sre"],
  quorum: 2,
  expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  approveUrl: "https://sluice.example/approvals/appr-7",
};

describe.each(bothSchedulers())("approval webhooks (%s scheduler)", (_name, makeScheduler) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(targets: WebhookTarget[], extra: { timeoutMs?: number; logLines?: string[] } = {}) {
    const scheduler: Scheduler = makeScheduler();
    const outcomes: DeliveryOutcome[] = [];
    const log = extra.logLines
      ? pino({ level: "debug" }, { write: (line: string) => void extra.logLines?.push(line) })
      : undefined;
    const notifier = new WebhookNotifier({
      scheduler,
      targets,
      record: async (outcome) => void outcomes.push(outcome),
      ...(extra.timeoutMs ? { timeoutMs: extra.timeoutMs } : {}),
      ...(log ? { log } : {}),
    });
    await scheduler.start();
    cleanups.push(() => scheduler.stop());
    return { notifier, outcomes };
  }

  async function receiver(answer?: (n: number) => number | "hang") {
    const r = await startReceiver(answer);
    cleanups.push(r.close);
    return r;
  }

  it("delivers a signed JSON notice and records it delivered after 1 attempt", async () => {
    const hook = await receiver();
    const { notifier, outcomes } = await setup([{ name: "ops", url: hook.url, secret: "s3cret-ops" }]);
    await notifier.notify(notice);
    await until(() => outcomes.length === 1, 10_000);

    expect(hook.received).toHaveLength(1);
    const [request] = hook.received;
    if (!request) throw new Error("no request");
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.headers["user-agent"]).toBe("sluice-webhook/1");
    expect(request.headers["x-sluice-delivery"]).toBe("appr-7:ops");
    const signature = String(request.headers["x-sluice-signature"]);
    const timestamp = String(request.headers["x-sluice-timestamp"]);
    expect(signature).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature("s3cret-ops", signature, timestamp, request.body)).toBe(true);
    expect(JSON.parse(request.body)).toEqual({ type: "approval.requested", approval: notice });
    expect(outcomes).toEqual([
      { approvalId: "appr-7", target: "ops", status: "delivered", attempts: 1, httpStatus: 200 },
    ]);
  });

  it("retries a receiver that fails twice, then records it delivered after 3 attempts", async () => {
    const hook = await receiver((n) => (n <= 2 ? 500 : 204));
    const { notifier, outcomes } = await setup([{ name: "ops", url: hook.url, secret: "s" }]);
    await notifier.notify(notice);
    await until(() => outcomes.length === 1, 15_000);
    expect(hook.received).toHaveLength(3);
    expect(outcomes).toEqual([
      { approvalId: "appr-7", target: "ops", status: "delivered", attempts: 3, httpStatus: 204 },
    ]);
  });

  // Slow by design (~7.5 s): the scheduler port has no backoff override, so this waits 0.5 + 1 + 2 + 4 s.
  it("records a failed outcome after 5 attempts against a receiver that always fails", async () => {
    const hook = await receiver(() => 503);
    const { notifier, outcomes } = await setup([{ name: "ops", url: hook.url, secret: "s" }]);
    await notifier.notify(notice);
    await until(() => outcomes.length === 1, 20_000);
    expect(hook.received).toHaveLength(5);
    expect(outcomes[0]).toMatchObject({
      approvalId: "appr-7",
      target: "ops",
      status: "failed",
      attempts: 5,
      httpStatus: 503,
    });
    expect(outcomes[0]?.error).toContain("HTTP 503");
  }, 30_000);

  it("delivers once per target when notify() is called twice for the same approval", async () => {
    const first = await receiver();
    const second = await receiver();
    const { notifier, outcomes } = await setup([
      { name: "ops", url: first.url, secret: "a" },
      { name: "chat", url: second.url, secret: "b", format: "slack" },
    ]);
    await Promise.all([notifier.notify(notice), notifier.notify(notice)]);
    await until(() => outcomes.length === 2, 10_000);
    await notifier.notify(notice); // again after delivery
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(first.received).toHaveLength(1);
    expect(second.received).toHaveLength(1);
    expect(second.received[0]?.headers["x-sluice-delivery"]).toBe("appr-7:chat");
    expect(outcomes.map((o) => o.target).sort()).toEqual(["chat", "ops"]);
  });

  it("sends a Slack-compatible body with the command in a truncated code block", async () => {
    const hook = await receiver();
    const { notifier, outcomes } = await setup([
      { name: "chat", url: hook.url, secret: "s", format: "slack" },
    ]);
    const long = { ...notice, command: `UPDATE t SET v = '${"x".repeat(600)}' WHERE a < 1` };
    await notifier.notify(long);
    await until(() => outcomes.length === 1, 10_000);
    const body = JSON.parse(hook.received[0]?.body ?? "{}");
    expect(Object.keys(body).sort()).toEqual(["blocks", "text"]);
    expect(typeof body.text).toBe("string");
    expect(body.text).toContain("agent-42");
    expect(body.blocks).toHaveLength(1);
    expect(body.blocks[0].type).toBe("section");
    expect(body.blocks[0].text.type).toBe("mrkdwn");
    const text: string = body.blocks[0].text.text;
    for (const part of ["agent-42", "orders-db", "deletes-need-approval", "dba, sre", "appr-7"]) {
      expect(text).toContain(part);
    }
    expect(text).toContain(long.expiresAt);
    expect(text).toContain("<https://sluice.example/approvals/appr-7|Review and approve>");
    const code = /```([\s\S]*)```/.exec(text)?.[1] ?? "";
    // "<" is escaped for mrkdwn; 500 characters of the command plus the ellipsis.
    expect(code).toBe(`${long.command.slice(0, 500).replaceAll("<", "&lt;")}…`);
  });

  it("does not follow redirects, retries after a timeout, and keeps secret and URL out of the logs", async () => {
    const hook = await receiver((n) => (n === 1 ? 302 : n === 2 ? "hang" : 200));
    const logLines: string[] = [];
    const { notifier, outcomes } = await setup([{ name: "ops", url: hook.url, secret: "s3cret-ops" }], {
      timeoutMs: 300,
      logLines,
    });
    await notifier.notify(notice);
    await until(() => outcomes.length === 1, 15_000);
    expect(hook.received.map((r) => r.path)).toEqual([
      "/hooks/token-abc",
      "/hooks/token-abc",
      "/hooks/token-abc",
    ]);
    expect(outcomes[0]).toMatchObject({ status: "delivered", attempts: 3 });
    const logs = logLines.join("");
    expect(logs).toContain("HTTP 302");
    expect(logs).toContain("timed out after 300 ms");
    expect(logs).not.toContain("s3cret-ops");
    expect(logs).not.toContain("token-abc");
  });
});
