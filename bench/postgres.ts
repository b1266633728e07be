/**
 * bench/postgres: pgbench -S (select-only) throughput directly against PostgreSQL, through
 * PgBouncer, and through Sluice with full policy, recording and masking — 1 and 8 clients —
 * with ratios to direct and to PgBouncer, and p50/p99 latency added by Sluice at 1 client.
 * Sluice runs twice: with the SQLite store's writer thread (default) and with inline commits.
 * A bare Node.js TCP pass-through (no policy, no recording) shows what any Node proxy adds here.
 *   npx tsx bench/postgres.ts [--seconds 10] [--mode simple|extended|prepared]
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { postgresProxyConfig } from "../src/proxy/postgres/config.ts";
import { startPostgresProxy } from "../src/proxy/postgres/server.ts";
import { startTestGate } from "../test/support/gate.ts";
import { startPgBouncer } from "../test/support/pgbouncer.ts";
import { PG_BIN, startPostgres } from "../test/support/postgres.ts";
import { makeTempDir } from "../test/support/tempdir.ts";

const run = promisify(execFile);
const { values } = parseArgs({
  options: { seconds: { type: "string", default: "10" }, mode: { type: "string", default: "simple" } },
});
const SECONDS = Number(values.seconds);

interface Result {
  tps: number;
  p50: number;
  p99: number;
}

async function pgbench(conninfo: string, password: string, clients: number): Promise<Result> {
  const logs = makeTempDir("pgbench-log");
  const { stdout } = await run(
    join(PG_BIN, "pgbench"),
    [
      "-n",
      "-S",
      "-M",
      values.mode as string,
      "-c",
      String(clients),
      "-j",
      String(Math.min(clients, 2)),
      "-T",
      String(SECONDS),
      "-l",
      "--log-prefix",
      join(logs.path, "tx"),
      conninfo,
    ],
    { env: { ...process.env, PGPASSWORD: password }, maxBuffer: 1 << 24 },
  );
  const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? 0);
  // Each log line: client_id transaction_no time(µs) script_no time_epoch time_us
  const latencies: number[] = [];
  for (const file of readdirSync(logs.path)) {
    for (const line of readFileSync(join(logs.path, file), "utf8").split("\n")) {
      const latency = Number(line.split(" ")[2]);
      if (Number.isFinite(latency) && line) latencies.push(latency);
    }
  }
  logs.remove();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { tps, p50: at(0.5), p99: at(0.99) };
}

const db = await startPostgres({ config: ["max_connections = 100", "shared_buffers = 128MB"] });
await run(join(PG_BIN, "pgbench"), ["-i", "-q", "-s", "10", db.url], { env: process.env });
// Named prepared statements need session pooling in PgBouncer 1.18.
const bouncer = await startPgBouncer(db, {
  poolMode: values.mode === "prepared" ? "session" : "transaction",
  config: ["default_pool_size = 8"],
});
process.env.BENCH_DB_URL = db.url;
const policy = `
targets: [{ name: bench, protocol: postgres, address: "127.0.0.1:${db.port}", credential: { env: BENCH_DB_URL }, masking: pii }]
access: [{ name: agents, who: { groups: [agents] }, targets: ["*"], level: read-write }]
rules:
  - { name: no-drop, action: deny, reason: "no drops", match: { sql: { flags: [drop, truncate] } } }
  - name: approve-writes
    action: require_approval
    match: { sql: { readOnly: false, relations: [pgbench_branches] } }
    approval: { groups: [dba] }
masking:
  - name: pii
    columns: [{ column: "*.pgbench_history.*", strategy: redact }]
    detectors: [{ detector: email, strategy: redact }, { detector: aws_access_key_id, strategy: redact }]
`;
async function startSluice(storeWriter: "thread" | "inline") {
  const gate = await startTestGate(policy, { storeWriter });
  const proxy = await startPostgresProxy(
    postgresProxyConfig.parse({ port: 0, allowPasswordWithoutTls: true }),
    gate.context(),
  );
  const { token } = await gate.credential({ target: "bench", access: "read-write" });
  const conninfo = `host=127.0.0.1 port=${proxy.port} user=agent dbname=bench sslmode=disable`;
  return { gate, proxy, token, conninfo };
}
const sluices = { thread: await startSluice("thread"), inline: await startSluice("inline") };
// The floor: bytes piped both ways, nothing decided or recorded.
const passThrough = createServer((client) => {
  const upstream = connect(db.port, "127.0.0.1");
  client.pipe(upstream).pipe(client);
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
});
await new Promise<void>((resolve) => passThrough.listen(0, "127.0.0.1", resolve));
const passPort = (passThrough.address() as { port: number }).port;
const viaPassThrough = `host=127.0.0.1 port=${passPort} user=${db.user} dbname=${db.database} sslmode=disable`;
const direct = `host=127.0.0.1 port=${db.port} user=${db.user} dbname=${db.database} sslmode=disable`;
const viaBouncer = `host=127.0.0.1 port=${bouncer.port} user=${bouncer.user} dbname=${bouncer.database} sslmode=disable`;

const rows: string[] = [];
for (const clients of [1, 8]) {
  const d = await pgbench(direct, db.password, clients);
  const b = await pgbench(viaBouncer, bouncer.password, clients);
  const n = await pgbench(viaPassThrough, db.password, clients);
  rows.push(
    `${clients} client(s): direct ${d.tps.toFixed(0)} tps | pgbouncer ${b.tps.toFixed(0)} tps` +
      ` | node pass-through ${n.tps.toFixed(0)} tps` +
      (clients === 1 ? ` (adds p50 ${n.p50 - d.p50} µs: the floor for a Node.js proxy)` : ""),
  );
  for (const [writer, sluice] of Object.entries(sluices)) {
    const s = await pgbench(sluice.conninfo, sluice.token, clients);
    rows.push(
      `  sluice (${writer} writer) ${s.tps.toFixed(0)} tps | sluice/direct ${(s.tps / d.tps).toFixed(2)}` +
        ` | sluice/pgbouncer ${(s.tps / b.tps).toFixed(2)}`,
    );
    if (clients === 1)
      rows.push(
        `    latency µs p50/p99: direct ${d.p50}/${d.p99} | pgbouncer ${b.p50}/${b.p99} | sluice ${s.p50}/${s.p99}` +
          ` | added by sluice p50 ${s.p50 - d.p50} µs, p99 ${s.p99 - d.p99} µs`,
      );
  }
}
console.log(`pgbench -S -M ${values.mode}, ${SECONDS}s per run, scale 10\n${rows.join("\n")}`);
for (const { proxy, gate } of Object.values(sluices)) {
  await proxy.close();
  await gate.close();
}
passThrough.close();
await bouncer.stop();
await db.stop();
