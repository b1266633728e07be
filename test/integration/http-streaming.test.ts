import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpProxyConfig } from "../../src/proxy/http/config.ts";
import { startHttpProxy } from "../../src/proxy/http/server.ts";
import type { TestGate } from "../support/gate.ts";
import {
  curl,
  EMAIL_LINE,
  type Harness,
  LINE,
  startHarness,
  type Upstream,
  upgrade as upgradeVia,
} from "../support/http-harness.ts";
import { LOOPBACK } from "../support/ports.ts";

/**
 * Streaming through the HTTP port: a large response with backpressure in bounded memory, an
 * upload with a body limit, upgrades (tunnelled or refused, recorded), and closing the port
 * with a response in flight.
 */

describe("streaming through the HTTP port", () => {
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
  const upgrade = (path: string) => upgradeVia(base, token, path);

  it("streams a large response with backpressure, masking it, in bounded memory", async () => {
    const mb = 256;
    const baseline = process.memoryUsage().arrayBuffers;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 5);
    try {
      const response = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = httpRequest(
          `${base}/orders/v1/stream?mb=${mb}`,
          { headers: { authorization: `Bearer ${token}` } },
          resolve,
        );
        req.once("error", reject);
        req.end();
      });
      // Read a little, then stop reading: the upstream must stop too (nothing piles up in between).
      let received = 0;
      let emails = 0;
      let tail = "";
      const count = (chunk: Buffer) => {
        received += chunk.length;
        const text = tail + chunk.toString("latin1");
        emails += text.split("redacted:email").length - 1;
        tail = text.slice(-("redacted:email".length - 1));
        if (text.includes("someone@example.com")) throw new Error("an email got through");
      };
      response.on("data", count);
      await sleep(100);
      response.pause();
      await sleep(300);
      const producedWhilePaused = upstream.produced;
      await sleep(300);
      expect(upstream.produced).toBe(producedWhilePaused); // the upstream is held back
      expect(producedWhilePaused - received).toBeLessThan(16 * 1024 * 1024);
      response.resume();
      await new Promise((resolve) => response.once("end", resolve));
      const lines = (mb * 1024 * 1024) / Buffer.byteLength(`${LINE.repeat(699)}${EMAIL_LINE}`);
      expect(emails).toBe(Math.ceil(lines));
      expect(received).toBeGreaterThan(mb * 1024 * 1024);
    } finally {
      clearInterval(sampler);
    }
    expect(peak - baseline).toBeLessThan(96 * 1024 * 1024);
    const { completed } = await recorded(`GET /v1/stream?mb=${mb}`);
    expect(completed.truncated?.bytes).toBeGreaterThan(mb * 1024 * 1024 - 4096);
    expect(Buffer.byteLength(JSON.parse(completed.output as string).response.body)).toBeLessThanOrEqual(2048);
  });

  it("streams an upload to the upstream and refuses one past the body limit", async () => {
    const payload = Buffer.alloc(8 * 1024 * 1024, "a");
    const ok = await get(
      "/orders/v1/upload",
      { "content-type": "application/octet-stream" },
      { method: "POST", body: payload },
    );
    expect(await ok.json()).toEqual({
      bytes: payload.length,
      sha256: createHash("sha256").update(payload).digest("hex"),
    });
    const file = join(gate.dataDir, "big.bin");
    writeFileSync(file, Buffer.alloc(20 * 1024 * 1024, "b"));
    const status = await curl([
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-H",
      `Authorization: Bearer ${token}`,
      "-H",
      "Content-Type: application/octet-stream",
      "--data-binary",
      `@${file}`,
      `${base}/orders/v1/upload`,
    ]);
    expect(status).toBe("413");
  });

  it("tunnels an upgrade when policy allows it, refuses it when not, and records the bytes", async () => {
    const upgraded = await upgrade("/orders/v1/socket");
    expect(upgraded.status).toBe(101);
    expect(upgraded.echo).toBe("HELLO THROUGH SLUICE");
    const { completed } = await recorded("GET /v1/socket");
    expect(completed).toMatchObject({ status: "ok", tag: "101 Switching Protocols" });
    expect(JSON.parse(completed.output as string).upgrade.bytes).toEqual({ toUpstream: 20, toAgent: 20 });
    const refused = await upgrade("/orders/v1/raw-socket");
    expect(refused.status).toBe(403);
    expect(upstream.received.some((r) => r.url === "/v1/raw-socket")).toBe(false);
  });

  it("closing the port cuts a response in flight, records it, and ends the session", async () => {
    const closing = await startHttpProxy(
      httpProxyConfig.parse({ port: 0, tls: { mode: "disabled" } }),
      gate.context(),
    );
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(`http://${LOOPBACK}:${closing.port}/orders/v1/stream?mb=64`, {
        headers: { authorization: `Bearer ${token}` },
      });
      req.once("response", resolve);
      req.once("error", reject);
      req.end();
    });
    response.pause(); // a slow agent: the transfer stalls on backpressure
    response.on("error", () => {});
    await sleep(100);
    await closing.close();
    const { completed } = await recorded("GET /v1/stream?mb=64");
    expect(completed.status).toMatch(/cancelled|error/);
    const all = await events();
    const decided = all
      .filter((e) => e.type === "CommandDecided" && e.data.command === "GET /v1/stream?mb=64")
      .at(-1);
    const sessionId = decided?.type === "CommandDecided" ? decided.data.sessionId : "none";
    expect(all.some((e) => e.type === "SessionEnded" && e.data.sessionId === sessionId)).toBe(true);
  });
});
