/**
 * bench/http: small GETs (requests/s, p50/p99 latency) and a large body (MB/s), directly
 * against an upstream and through Sluice's HTTP port with full policy, recording (two durable
 * events per request on SQLite) and masking, with ratios to direct. The load runs in a child
 * process so it does not share the gateway's event loop.
 *   npx tsx bench/http.ts [--seconds 5] [--clients 1,16] [--mb 256]
 */
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import { Readable } from "node:stream";
import { parseArgs, promisify } from "node:util";
import { httpProxyConfig } from "../src/proxy/http/config.ts";
import { startHttpProxy } from "../src/proxy/http/server.ts";
import { startTestGate } from "../test/support/gate.ts";

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    clients: { type: "string", default: "1,16" },
    mb: { type: "string", default: "256" },
  },
});
const SECONDS = Number(values.seconds);
const CLIENTS = (values.clients as string).split(",").map(Number);
const MB = Number(values.mb);
const TOKEN = "bench-upstream-token-0c1d2e3f";

// Load generator: keep-alive clients issuing GETs back to back for `seconds`, or one download.
const LOAD = `
const http = require("node:http");
const [mode, url, token, seconds, clients] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(clients) });
const get = (u) => new Promise((resolve, reject) => {
  const req = http.get(u, { agent, headers: { authorization: "Bearer " + token } }, (res) => {
    let bytes = 0;
    res.on("data", (c) => { bytes += c.length; });
    res.on("end", () => res.statusCode === 200 ? resolve(bytes) : reject(new Error("status " + res.statusCode)));
  });
  req.on("error", reject);
});
(async () => {
  if (mode === "large") {
    const t0 = process.hrtime.bigint();
    const bytes = await get(url);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(JSON.stringify({ bytes, seconds: s }));
    return;
  }
  const latencies = [];
  const end = Date.now() + Number(seconds) * 1000;
  await Promise.all(Array.from({ length: Number(clients) }, async () => {
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      await get(url);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }));
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  console.log(JSON.stringify({ rps: latencies.length / Number(seconds), p50: at(0.5), p99: at(0.99) }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

async function load<T>(mode: "small" | "large", url: string, token: string, clients = 1): Promise<T> {
  const { stdout } = await run(
    process.execPath,
    ["-e", LOAD, mode, url, token, String(SECONDS), String(clients)],
    {
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(stdout) as T;
}

const LINE = "2025-01-01T00:00:00Z INFO request served in 3 ms for client 10.1.2.3, nothing to see here\n";
const EVENT = `${JSON.stringify({ type: "MODIFIED", object: { kind: "Order", id: 7, status: "paid", note: "served in 3 ms" } })}\n`;
const upstream = createServer((req, res) => {
  if (req.headers.authorization !== `Bearer ${TOKEN}`) {
    res.writeHead(401).end();
    return;
  }
  const url = new URL(req.url ?? "/", "http://upstream.invalid");
  if (url.pathname.endsWith("/large")) {
    const chunk = Buffer.from(
      url.searchParams.get("type")?.includes("json") ? EVENT.repeat(500) : LINE.repeat(700),
    );
    let left = MB * 1024 * 1024;
    res.writeHead(200, { "content-type": url.searchParams.get("type") ?? "text/plain" });
    Readable.from(
      (function* () {
        while (left > 0) {
          left -= chunk.length;
          yield chunk;
        }
      })(),
    ).pipe(res);
    return;
  }
  const body = JSON.stringify({
    id: 7,
    status: "paid",
    items: [{ sku: "A-1", qty: 2 }],
    note: "small response",
  });
  res
    .writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
    .end(body);
});
await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;

process.env.BENCH_UPSTREAM_TOKEN = TOKEN;
const gate = await startTestGate(`
targets:
  - { name: plain, protocol: http, address: "${upstreamUrl}", credential: { env: BENCH_UPSTREAM_TOKEN } }
  - { name: masked, protocol: http, address: "${upstreamUrl}", credential: { env: BENCH_UPSTREAM_TOKEN }, masking: pii }
access: [{ name: bench, who: { groups: [agents] }, targets: ["*"], level: read-only }]
masking:
  - name: pii
    detectors: [{ detector: email, strategy: redact }, { detector: credit_card, strategy: partial }]
`);
const proxy = await startHttpProxy(
  httpProxyConfig.parse({ port: 0, tls: { mode: "disabled" }, maskSecretsByDefault: true }),
  gate.context(),
);
const { token: plainToken } = await gate.credential({ target: "plain" });
const { token: maskedToken } = await gate.credential({ target: "masked" });
const via = (target: string) => `http://127.0.0.1:${proxy.port}/${target}`;

const fmt = (n: number, digits = 0) => n.toFixed(digits);
console.log(`bench/http: ${SECONDS}s per run, SQLite store (synchronous=FULL), node ${process.version}`);
console.log("\nsmall GET (~100-byte JSON), keep-alive:");
console.log("clients  path              req/s    p50 ms  p99 ms  ratio");
type Small = { rps: number; p50: number; p99: number };
for (const clients of CLIENTS) {
  const direct = await load<Small>("small", `${upstreamUrl}/v1/orders/7`, TOKEN, clients);
  const rows: [string, Small][] = [
    ["direct", direct],
    ["gate only", await gateOnly(clients)],
    ["sluice", await load<Small>("small", `${via("plain")}/v1/orders/7`, plainToken, clients)],
    ["sluice + masking", await load<Small>("small", `${via("masked")}/v1/orders/7`, maskedToken, clients)],
  ];
  for (const [name, result] of rows) {
    console.log(
      `${String(clients).padStart(7)}  ${name.padEnd(16)} ${fmt(result.rps).padStart(7)}  ${fmt(result.p50, 2).padStart(6)}  ${fmt(result.p99, 2).padStart(6)}  ${fmt(result.rps / direct.rps, 2)}`,
    );
  }
}

/** The gate's own cost per request, without HTTP: decide (durable) and complete, as the port does. */
async function gateOnly(clients: number): Promise<Small> {
  const principal = await gate.gate.authenticate(plainToken);
  const session = await gate.gate.openSession({
    principal,
    target: "plain",
    protocol: "http",
    client: { address: "bench" },
  });
  const command = {
    protocol: "http" as const,
    text: "GET /v1/orders/7",
    http: { method: "GET", path: "/v1/orders/7" },
  };
  const latencies: number[] = [];
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < end) {
        const started = performance.now();
        const verdict = await gate.gate.decide(session, command);
        latencies.push(performance.now() - started);
        void gate.gate.complete(session, verdict.commandId, { status: "ok", durationMs: 0, masked: [] });
      }
    }),
  );
  await gate.gate.closeSession(session, "bench");
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { rps: latencies.length / SECONDS, p50: at(0.5), p99: at(0.99) };
}

console.log(`\nlarge body (${MB} MiB text/plain, one download):`);
console.log("path                              MB/s   ratio");
const large = async (url: string, token: string) => {
  const { bytes, seconds } = await load<{ bytes: number; seconds: number }>("large", url, token);
  return bytes / 1024 / 1024 / seconds;
};
const directLarge = await large(`${upstreamUrl}/v1/large`, TOKEN);
console.log(`direct                            ${fmt(directLarge).padStart(5)}   1.00`);
for (const [name, url, token] of [
  ["sluice, credential detectors", `${via("plain")}/v1/large`, plainToken],
  ["sluice, + pii profile", `${via("masked")}/v1/large`, maskedToken],
  ["sluice, binary (no masking)", `${via("plain")}/v1/large?type=application/octet-stream`, plainToken],
  ["sluice, JSON lines + pii profile", `${via("masked")}/v1/large?type=application/x-ndjson`, maskedToken],
] as const) {
  const mbs = await large(url, token);
  console.log(`${name.padEnd(33)} ${fmt(mbs).padStart(5)}   ${fmt(mbs / directLarge, 2)}`);
}

await proxy.close();
await gate.close();
upstream.closeAllConnections();
upstream.close();
