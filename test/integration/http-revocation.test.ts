import { request as httpRequest, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/eventstore/port.ts";
import { until } from "../support/events.ts";
import { type Harness, KUBE_CLUSTER_TOKEN, startHarness } from "../support/http-harness.ts";
import { type KubeApi, pod, startKubeApi } from "../support/kube-api.ts";

/**
 * A credential revoked or expired while requests that use it are in flight, through the HTTP
 * port with real clients (fetch, node:http) against real upstreams: a Kubernetes watch ends
 * with an ERROR Status event, a streamed response, an upload and a tunnel are cut, a request
 * waiting for its response gets 401, later requests get 401, and the log says why.
 */

const security = { subject: "sec-team", groups: [], kind: "human" as const };

describe("revocation and expiry of requests in flight on the HTTP port", () => {
  let h: Harness;
  let kube: KubeApi;
  beforeAll(async () => {
    kube = await startKubeApi({ token: KUBE_CLUSTER_TOKEN });
    kube.pods.set("default/web-1", pod("web-1"));
    h = await startHarness({ kube: kube.url });
  });
  afterAll(async () => {
    await h?.close();
    await kube?.stop();
  });

  const revoke = (credentialId: string) =>
    h.gate.credentials.revoke(credentialId, security, "leaked in a log");
  const as = (token: string, path: string, init: RequestInit = {}) =>
    fetch(`${h.base}${path}`, { ...init, headers: { authorization: `Bearer ${token}` } });

  /** Reads a streamed body as text chunks; `next()` resolves with the text so far once `match` appears. */
  function reader(response: Response) {
    const stream = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = "";
    let done = false;
    const rest = (async () => {
      for (;;) {
        const chunk = await stream.read();
        if (chunk.done) break;
        text += decoder.decode(chunk.value, { stream: true });
      }
      done = true;
    })();
    rest.catch(() => {});
    return {
      text: () => text,
      /** The body read as watch events, one JSON object a line. */
      events: () =>
        text
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line)),
      done: () => done,
      /** Settles when the body ends: resolves on a clean end, rejects when the connection was cut. */
      rest,
      async next(match: RegExp) {
        await until(() => match.test(text), 10_000);
        return text;
      },
    };
  }

  /** The CommandCompleted of a command with this text sent with that credential, and its session's end. */
  async function completion(credentialId: string, command: string) {
    let found: { completed: RecordedEvent; ended?: RecordedEvent; all: RecordedEvent[] } | undefined;
    await until(async () => {
      const all = await h.events();
      const session = all.find((e) => e.type === "SessionStarted" && e.data.credentialId === credentialId);
      const decided = all.find(
        (e) =>
          e.type === "CommandDecided" &&
          e.data.command === command &&
          session?.type === "SessionStarted" &&
          e.data.sessionId === session.data.sessionId,
      );
      if (decided?.type !== "CommandDecided") return false;
      const completed = all.find(
        (e) => e.type === "CommandCompleted" && e.data.commandId === decided.data.commandId,
      );
      if (!completed) return false;
      const ended = all.find((e) => e.type === "SessionEnded" && e.data.sessionId === decided.data.sessionId);
      found = { completed, all, ...(ended ? { ended } : {}) };
      return ended !== undefined;
    }, 10_000);
    const result = found as NonNullable<typeof found>;
    const { completed, ended, all } = result;
    return {
      completed: (completed as Extract<RecordedEvent, { type: "CommandCompleted" }>).data,
      ended: (ended as Extract<RecordedEvent, { type: "SessionEnded" }>).data,
      /** The session ends after the cut exchange is recorded. */
      endedAfterCompletion: all.indexOf(ended as RecordedEvent) > all.indexOf(completed),
    };
  }

  it("ends a Kubernetes watch with an ERROR Status event naming the revoked credential; other watches go on", async () => {
    const agent = await h.gate.credential({ target: "prod", access: "read-only" });
    const other = await h.gate.credential({ target: "prod", access: "read-only" });
    const path = "/prod/api/v1/namespaces/default/pods?watch=1";
    const watch = reader(await as(agent.token, path));
    const bystander = reader(await as(other.token, path));
    await watch.next(/"ADDED"/);
    await bystander.next(/"ADDED"/);
    kube.emit("pods", "MODIFIED", pod("web-2"));
    await watch.next(/"MODIFIED"/);

    await revoke(agent.credentialId);
    await watch.rest;
    const events = watch.events();
    expect(events.map((e) => e.type)).toEqual(["ADDED", "MODIFIED", "ERROR"]);
    expect(events.at(-1)).toEqual({
      type: "ERROR",
      object: {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: `sluice: credential ${agent.credentialId} was revoked`,
        reason: "Unauthorized",
        code: 401,
      },
    });
    // The upstream watch is dropped; the other credential's watch still receives events.
    await until(() => kube.watchers() === 1);
    kube.emit("pods", "DELETED", pod("web-3"));
    await bystander.next(/"DELETED".*web-3/);
    expect(bystander.done()).toBe(false);

    const after = await as(agent.token, "/prod/api/v1/namespaces/default/pods");
    expect(after.status).toBe(401);
    expect(await after.json()).toMatchObject({
      kind: "Status",
      reason: "Unauthorized",
      code: 401,
      message: `sluice: credential ${agent.credentialId} was revoked`,
    });
    const { completed, ended, endedAfterCompletion } = await completion(
      agent.credentialId,
      "GET /api/v1/namespaces/default/pods?watch=1",
    );
    expect(completed).toMatchObject({
      status: "error",
      tag: "200 OK",
      error: {
        code: "CREDENTIAL_REVOKED",
        message: `sluice: credential ${agent.credentialId} was revoked: the watch ended with an ERROR event`,
      },
    });
    expect(ended.reason).toBe(`sluice: credential ${agent.credentialId} was revoked`);
    expect(endedAfterCompletion).toBe(true);
    await revoke(other.credentialId);
    await bystander.rest;
  });

  it("sends the final event only after the watch event in progress is complete", async () => {
    const agent = await h.gate.credential({ target: "prod", access: "read-only" });
    const watch = reader(await as(agent.token, "/prod/api/v1/namespaces/default/pods?watch=1"));
    await watch.next(/"ADDED"/);
    const event = JSON.stringify({ type: "MODIFIED", object: pod("web-4") });
    const half = event.indexOf("web-4");
    kube.writeRaw("pods", event.slice(0, half));
    await watch.next(/"MODIFIED"/);
    await revoke(agent.credentialId);
    kube.writeRaw("pods", `${event.slice(half)}\n`);
    await watch.rest;
    const events = watch.events();
    expect(events.map((e) => e.type)).toEqual(["ADDED", "MODIFIED", "ERROR"]);
    expect(events[1].object.metadata.name).toBe("web-4");
  });

  it("ends a watch the same way when its credential expires", async () => {
    const agent = await h.gate.credential({ target: "prod", access: "read-only", ttlMs: 1500 });
    const watch = reader(await as(agent.token, "/prod/api/v1/namespaces/default/pods?watch=true"));
    await watch.next(/"ADDED"/);
    await watch.rest;
    const last = watch.events().at(-1);
    expect(last).toMatchObject({
      type: "ERROR",
      object: { kind: "Status", code: 401, message: `sluice: credential ${agent.credentialId} expired` },
    });
    const { completed } = await completion(
      agent.credentialId,
      "GET /api/v1/namespaces/default/pods?watch=true",
    );
    expect(completed.error?.code).toBe("CREDENTIAL_EXPIRED");
    expect((await as(agent.token, "/prod/api/v1/namespaces/default/pods")).status).toBe(401);
  });

  it("cuts a streamed response whose headers were sent, drops the upstream, and refuses the next request", async () => {
    const agent = await h.gate.credential({ target: "orders", access: "read-only" });
    const response = await as(agent.token, "/orders/v1/drip");
    expect(response.status).toBe(200);
    const drip = reader(response);
    await drip.next(/line 3\n/);
    await revoke(agent.credentialId);
    await expect(drip.rest).rejects.toThrow();
    await until(() => h.upstream.open.drips === 0);

    const after = await as(agent.token, "/orders/v1/orders/7");
    expect(after.status).toBe(401);
    expect(await after.json()).toEqual({
      error: "unauthorized",
      message: `sluice: credential ${agent.credentialId} was revoked`,
    });
    const { completed, ended } = await completion(agent.credentialId, "GET /v1/drip");
    expect(completed).toMatchObject({
      status: "error",
      tag: "200 OK",
      error: {
        code: "CREDENTIAL_REVOKED",
        message: `sluice: credential ${agent.credentialId} was revoked: the response was cut`,
      },
    });
    // What was streamed before the cut is in the record.
    expect(JSON.parse(completed.output as string).response.body).toContain("line 1\n");
    expect(ended.reason).toContain("was revoked");
  });

  it("answers 401 to a request still waiting for its response", async () => {
    const agent = await h.gate.credential({ target: "orders", access: "read-only" });
    const seen = h.upstream.received.length;
    const pending = as(agent.token, "/orders/v1/slow");
    await until(() => h.upstream.received.slice(seen).some((r) => r.url === "/v1/slow"));
    await revoke(agent.credentialId);
    const response = await pending;
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      error: "unauthorized",
      message: `sluice: credential ${agent.credentialId} was revoked`,
    });
    const { completed } = await completion(agent.credentialId, "GET /v1/slow");
    expect(completed).toMatchObject({ status: "error", error: { code: "CREDENTIAL_REVOKED" } });
  });

  it("answers 401 to a request held for approval", async () => {
    const agent = await h.gate.credential({ target: "orders", access: "read-write" });
    const approvals = await h.approvalCount();
    const held = as(agent.token, "/orders/v1/orders/9", { method: "DELETE" });
    await h.nextApproval(approvals);
    await revoke(agent.credentialId);
    const response = await held;
    expect(response.status).toBe(401);
    expect((await response.json()).message).toBe(`sluice: credential ${agent.credentialId} was revoked`);
    expect(h.upstream.received.some((r) => r.method === "DELETE" && r.url === "/v1/orders/9")).toBe(false);
    const { completed } = await completion(agent.credentialId, "DELETE /v1/orders/9");
    expect(completed).toMatchObject({ status: "cancelled", error: { code: "CREDENTIAL_REVOKED" } });
  });

  it("cuts an upload in progress: the upstream never gets a complete body", async () => {
    const agent = await h.gate.credential({ target: "orders", access: "read-write" });
    const req = httpRequest(`${h.base}/orders/v1/upload`, {
      method: "POST",
      headers: { authorization: `Bearer ${agent.token}`, "content-type": "application/octet-stream" },
    });
    const ended = new Promise<number | string>((resolve) => {
      req.once("response", (res: IncomingMessage) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    const writer = setInterval(() => req.write(Buffer.alloc(16 * 1024, 7)), 20);
    try {
      await until(() => h.upstream.open.uploads === 1);
      await revoke(agent.credentialId);
      // The agent is told 401 if its client reads the answer mid-upload, or sees the connection reset.
      expect([401, "ECONNRESET", "EPIPE"]).toContain(await ended);
    } finally {
      clearInterval(writer);
      req.destroy();
    }
    await until(() => h.upstream.open.uploads === 0);
    const { completed } = await completion(agent.credentialId, "POST /v1/upload");
    expect(completed).toMatchObject({ status: "error", error: { code: "CREDENTIAL_REVOKED" } });
  });

  it("closes both sides of an upgraded tunnel", async () => {
    const agent = await h.gate.credential({ target: "orders", access: "read-write" });
    const socket = await new Promise<Duplex>((resolve, reject) => {
      const req = httpRequest(`${h.base}/orders/v1/tunnel`, {
        headers: { authorization: `Bearer ${agent.token}`, connection: "Upgrade", upgrade: "echo" },
      });
      req.once("upgrade", (_res, upgraded: Duplex) => resolve(upgraded));
      req.once("response", (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
      req.once("error", reject);
      req.end();
    });
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.on("error", () => {});
    socket.write("ping");
    const echo = await new Promise<string>((resolve) =>
      socket.once("data", (d: Buffer) => resolve(String(d))),
    );
    expect(echo).toBe("PING");
    expect(h.upstream.open.tunnels).toBe(1);
    await revoke(agent.credentialId);
    await closed;
    await until(() => h.upstream.open.tunnels === 0);
    const { completed } = await completion(agent.credentialId, "GET /v1/tunnel");
    expect(completed).toMatchObject({
      status: "error",
      tag: "101 Switching Protocols",
      error: { code: "CREDENTIAL_REVOKED" },
    });
    expect(JSON.parse(completed.output as string).upgrade.bytes).toEqual({ toUpstream: 4, toAgent: 4 });
  });
});
