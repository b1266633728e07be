import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { RecordedEvent } from "../../src/eventstore/port.ts";
import type { RunningProxy } from "../../src/proxy/context.ts";
import { httpProxyConfig } from "../../src/proxy/http/config.ts";
import { startHttpProxy } from "../../src/proxy/http/server.ts";
import { collect } from "./events.ts";
import { startTestGate, type TestGate } from "./gate.ts";
import { LOOPBACK } from "./ports.ts";

/**
 * What the HTTP port tests share: a real upstream HTTP server (orders JSON with personal data,
 * an echo of what it received, text with credentials, a lazily produced large body, uploads,
 * an upgrade that echoes), a policy over it, a gate and the port in front, and helpers to read
 * what the log recorded.
 */

export const UPSTREAM_TOKEN = "orders-upstream-token-7f3a9c2e51";
export const ORDER = {
  id: 7,
  status: "paid",
  customer: { name: "Bob", email: "bob@example.com", ssn: "123-45-6789" },
  card: "4111 1111 1111 1111",
  internalNotes: { risk: "low", reviewer: "dana" },
};
export const CONFIG_TEXT = [
  "region=eu-west-1",
  "aws_access_key_id=AKIAIOSFODNN7EXAMPLE",
  "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  "db=postgres://app:s3cr3t-pass@db.internal:5432/app",
  "",
].join("\n");
export const LINE =
  "2025-01-01T00:00:00Z INFO request served in 3 ms for client 10.1.2.3, nothing to see here\n";
export const EMAIL_LINE =
  "2025-01-01T00:00:00Z WARN password reset mailed to someone@example.com by support\n";

export interface Upstream {
  url: string;
  received: { method: string; url: string; headers: IncomingMessage["headers"] }[];
  /** Bytes the last /v1/stream response handed to its socket so far. */
  produced: number;
  /** /v1/drip responses (a line every 50 ms, never ending), uploads and upgraded sockets open right now. */
  open: { drips: number; tunnels: number; uploads: number };
  stop(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const state: Upstream = {
    url: "",
    received: [],
    produced: 0,
    open: { drips: 0, tunnels: 0, uploads: 0 },
    stop: async () => {},
  };
  const server: Server = createServer(async (req, res) => {
    state.received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    const url = new URL(req.url ?? "/", "http://upstream.invalid");
    if (req.headers.authorization !== `Bearer ${UPSTREAM_TOKEN}`) {
      res.writeHead(401).end();
      return;
    }
    if (url.pathname === "/v1/upload") {
      state.open.uploads++;
      req.once("close", () => state.open.uploads--);
      const hash = createHash("sha256");
      let bytes = 0;
      try {
        for await (const chunk of req) {
          hash.update(chunk as Buffer);
          bytes += (chunk as Buffer).length;
        }
      } catch {
        return; // the gateway cut an upload past its limit
      }
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ bytes, sha256: hash.digest("hex") }));
      return;
    }
    req.resume();
    if (url.pathname === "/v1/orders/7" || url.pathname === "/v1/orders/9") {
      if (req.method === "DELETE") {
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ deleted: url.pathname }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json", "set-cookie": "sid=abc; HttpOnly" });
      res.end(JSON.stringify(ORDER, null, 2));
      return;
    }
    if (url.pathname === "/v1/echo") {
      // An upstream that echoes what it received, the gateway's credential included.
      res.writeHead(200, {
        "content-type": "application/json",
        "x-seen-authorization": String(req.headers.authorization),
      });
      res.end(JSON.stringify({ headers: req.headers }));
      return;
    }
    if (url.pathname === "/v1/slow") return; // never answers
    if (url.pathname === "/v1/drip") {
      res.writeHead(200, { "content-type": "text/plain" });
      state.open.drips++;
      let n = 0;
      const timer = setInterval(() => res.write(`line ${++n}\n`), 50);
      res.once("close", () => {
        clearInterval(timer);
        state.open.drips--;
      });
      return;
    }
    if (url.pathname === "/v1/config") {
      res.writeHead(200, { "content-type": "text/plain" }).end(CONFIG_TEXT);
      return;
    }
    if (url.pathname === "/v1/big-json") {
      const items = Array.from({ length: 4000 }, (_, i) => ({
        id: i,
        email: `user${i}@example.com`,
        note: "x".repeat(200),
      }));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ items }));
      return;
    }
    if (url.pathname === "/v1/stream") {
      const total = Number(url.searchParams.get("mb")) * 1024 * 1024;
      state.produced = 0;
      res.writeHead(200, { "content-type": "text/plain" });
      const chunk = Buffer.from(`${LINE.repeat(699)}${EMAIL_LINE}`);
      // Writes only when the socket drains: what was produced is what the proxy took.
      Readable.from(
        (function* () {
          while (state.produced < total) {
            state.produced += chunk.length;
            yield chunk;
          }
        })(),
      ).pipe(res);
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ path: url.pathname }));
  });
  server.on("upgrade", (req: IncomingMessage, socket) => {
    state.received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    socket.write("HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: echo\r\n\r\n");
    state.open.tunnels++;
    socket.once("close", () => state.open.tunnels--);
    socket.on("data", (data: Buffer) => socket.write(data.toString().toUpperCase()));
    socket.on("end", () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const address = server.address();
  state.url = `http://${LOOPBACK}:${typeof address === "object" && address ? address.port : 0}`;
  state.stop = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

export const KUBE_CLUSTER_TOKEN = "cluster-admin-token-5d0c2e7b91";

/** The orders policy; with `kube`, also a Kubernetes target `prod` at that address. */
export const policy = (upstream: string, kube?: string) => `
targets:${kube ? `\n  - { name: prod, protocol: kubernetes, address: "${kube}", credential: { env: KUBE_CLUSTER_TOKEN } }` : ""}
  - name: orders
    protocol: http
    address: "${upstream}/"
    credential: { env: ORDERS_UPSTREAM_TOKEN }
    hostnames: [orders.internal]
    masking: orders-pii
  - { name: gone, protocol: http, address: "http://127.0.0.1:1" }
access:
  - { name: agents, who: { groups: [agents] }, targets: ["*"], level: read-write }
rules:
  - { name: no-admin, action: deny, reason: "the admin API is off limits to agents", match: { http: { paths: ["/v1/admin/**"] } } }
  - { name: no-raw-socket, action: deny, match: { http: { paths: ["/v1/raw-socket"] } } }
  - name: approve-deletes
    action: require_approval
    match: { targets: [orders], http: { methods: [DELETE] } }
    approval: { groups: [sre], reuseWithin: 10m }
masking:
  - name: orders-pii
    detectors:
      - { detector: email, strategy: redact }
      - { detector: credit_card, strategy: partial }
    jsonPaths:
      - { path: "$.customer.ssn", strategy: redact }
      - { path: "$.internalNotes", strategy: "null" }
`;

export const sre = { subject: "dana", groups: ["sre"], kind: "human" as const };

export interface Harness {
  upstream: Upstream;
  gate: TestGate;
  proxy: RunningProxy;
  base: string;
  token: string;
  get(path: string, headers?: Record<string, string>, init?: RequestInit): Promise<Response>;
  events(): Promise<RecordedEvent[]>;
  recorded(command: string): Promise<{
    decided: Extract<RecordedEvent, { type: "CommandDecided" }>["data"];
    completed: Extract<RecordedEvent, { type: "CommandCompleted" }>["data"];
  }>;
  nextApproval(after: number): Promise<string>;
  approvalCount(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The upstream, a gate with the orders policy, the HTTP port (plain HTTP) and an agent's token.
 * `kube`: the address of a Kubernetes API (test/support/kube-api.ts, checking KUBE_CLUSTER_TOKEN) for target `prod`.
 */
export async function startHarness(options: { kube?: string } = {}): Promise<Harness> {
  process.env.ORDERS_UPSTREAM_TOKEN = UPSTREAM_TOKEN;
  process.env.KUBE_CLUSTER_TOKEN = KUBE_CLUSTER_TOKEN;
  const upstream = await startUpstream();
  const gate = await startTestGate(policy(upstream.url, options.kube));
  const proxy = await startHttpProxy(
    httpProxyConfig.parse({
      port: 0,
      tls: { mode: "disabled" },
      holdWaitSeconds: 20,
      limits: { requestBodyBytes: 16 * 1024 * 1024, recordBodyBytes: 2048 },
    }),
    gate.context(),
  );
  const base = `http://${LOOPBACK}:${proxy.port}`;
  const { token } = await gate.credential({ target: "orders", access: "read-write" });
  const events = async () => collect(gate.store.readAll());
  return {
    upstream,
    gate,
    proxy,
    base,
    token,
    get: (path, headers = {}, init = {}) =>
      fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...headers } }),
    events,
    /** The decision and (once recorded) the completion of the last command with this text. */
    async recorded(command) {
      for (let attempt = 0; attempt < 100; attempt++) {
        const all = await events();
        const decided = all.filter((e) => e.type === "CommandDecided" && e.data.command === command).at(-1);
        const completed =
          decided?.type === "CommandDecided"
            ? all.find((e) => e.type === "CommandCompleted" && e.data.commandId === decided.data.commandId)
            : undefined;
        if (decided?.type === "CommandDecided" && completed?.type === "CommandCompleted")
          return { decided: decided.data, completed: completed.data };
        await sleep(50);
      }
      throw new Error(`no completed record of ${command}`);
    },
    async nextApproval(after) {
      for (let attempt = 0; attempt < 200; attempt++) {
        const requested = (await events()).filter((e) => e.type === "ApprovalRequested");
        const last = requested.at(-1);
        if (requested.length > after && last?.type === "ApprovalRequested") return last.data.approvalId;
        await sleep(25);
      }
      throw new Error("no approval was requested");
    },
    approvalCount: async () => (await events()).filter((e) => e.type === "ApprovalRequested").length,
    async close() {
      await proxy.close();
      await upstream.stop();
      await gate.close();
    },
  };
}

/** An upgrade request through the port: 101 and the upstream's echo, or the refusal's status. */
export function upgrade(
  base: string,
  token: string,
  path: string,
): Promise<{ status: number; echo?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, {
      headers: { authorization: `Bearer ${token}`, connection: "Upgrade", upgrade: "echo" },
    });
    req.once("upgrade", (res, socket) => {
      socket.write("hello through sluice");
      socket.once("data", (data: Buffer) => {
        socket.end();
        resolve({ status: res.statusCode ?? 0, echo: data.toString() });
      });
    });
    req.once("response", (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
    });
    req.once("error", reject);
    req.end();
  });
}

export function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("curl", args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`curl failed: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}
