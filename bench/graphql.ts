/**
 * bench/graphql: the read side at scale. Builds a log of sessions with commands (1M events by
 * default; some denied, some held for approval, a few approvals left pending), folds it into
 * fresh read models (catch-up events/s, against a plain $all read as the baseline), then starts
 * a gateway on it and measures over HTTP with a real OIDC token: a session timeline, an audit
 * search by agent + time range, and the approval queue (p50/p99, and the ratio to the same
 * read-model query run directly). Ends with freshness: append → visible through GraphQL.
 *   npx tsx bench/graphql.ts [--events 1000000 --iterations 500]
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openReadModels } from "../projections/database.ts";
import { allProjections } from "../projections/index.ts";
import { ReadModels } from "../projections/reads.ts";
import { ProjectionRunner } from "../projections/runner.ts";
import { startGateway } from "../src/app.ts";
import { loadConfig } from "../src/config/load.ts";
import { makeMetadata, type NewEvent } from "../src/events/index.ts";
import { SqliteEventStore } from "../src/eventstore/sqlite.ts";
import { createLogger } from "../src/log.ts";
import { startOidcProvider } from "../test/support/oidc-provider.ts";
import { makeTempDir } from "../test/support/tempdir.ts";

const { values } = parseArgs({
  options: { events: { type: "string", default: "1000000" }, iterations: { type: "string", default: "500" } },
});
const TARGET_EVENTS = Number(values.events);
const ITERATIONS = Number(values.iterations);
const COMMANDS_PER_SESSION = 24; // 50 events a session: started, 24 × (decided, completed), ended
const AGENTS = 50;
const TARGETS = ["orders-db", "billing-db", "web-1", "web-2", "k8s-prod"];
const DAYS = 30;
const T0 = Date.parse("2026-01-01T00:00:00Z");
const SPAN_MS = DAYS * 86_400_000;

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => `${n.toFixed(2)} ms`;
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;

// Events are built as the gate writes them, without re-validating each (the store checks nothing
// the catalogue does not): the log is what matters here, not the building.
const event = (type: string, data: unknown, time: number, extra: Record<string, string>) =>
  ({
    type,
    data,
    metadata: makeMetadata({ gatewayInstance: "bench", time: new Date(time), ...extra }),
  }) as NewEvent;

function session(n: number, pendingBudget: { left: number }) {
  const sessionId = `s${n}`;
  const agent = `agent-${n % AGENTS}`;
  const target = TARGETS[n % TARGETS.length] as string;
  const taskId = `task-${n % 2000}`;
  const start = T0 + Math.floor((n / (TARGET_EVENTS / 50)) * SPAN_MS);
  const meta = { sessionId, actor: agent, taskId };
  const events: NewEvent[] = [
    event(
      "SessionStarted",
      {
        sessionId,
        protocol: "postgres",
        target,
        identity: { subject: agent, groups: ["agents"], kind: "agent" },
        taskId,
        client: { address: "10.0.0.7:50000", application: "psql" },
      },
      start,
      meta,
    ),
  ];
  const approvals: { stream: string; events: NewEvent[] }[] = [];
  for (let c = 0; c < COMMANDS_PER_SESSION; c++) {
    const at = start + c * 2000;
    const commandId = `${sessionId}-c${c}`;
    const roll = (n * 31 + c * 7) % 100;
    const decision = roll < 2 ? "deny" : roll < 3 ? "require_approval" : "allow";
    const write = decision !== "allow";
    const relation = ["public.orders", "customers", "public.invoices", "items"][c % 4] as string;
    const approvalId = decision === "require_approval" ? `a-${commandId}` : undefined;
    events.push(
      event(
        "CommandDecided",
        {
          sessionId,
          commandId,
          protocol: "postgres",
          command: write
            ? `UPDATE ${relation} SET status = 'void' WHERE id = ${n * 100 + c}`
            : `SELECT id, email, total FROM ${relation} WHERE customer_id = ${n * 100 + c} LIMIT 50`,
          classification: { kinds: [write ? "update" : "select"], relations: [relation], readOnly: !write },
          decision,
          rule: decision === "allow" ? "access:agents" : decision === "deny" ? "no-void" : "approve-writes",
          reason: `decided by ${decision === "allow" ? "access:agents" : "a rule"}`,
          policyVersion: 3,
          ...(approvalId ? { approvalId } : {}),
        },
        at,
        meta,
      ),
      event(
        "CommandCompleted",
        {
          sessionId,
          commandId,
          status: decision === "deny" ? "denied" : "ok",
          durationMs: 1.5,
          rows: 1,
          tag: write ? "UPDATE 1" : "SELECT 1",
          masked: [{ field: "email", rule: "pii", count: 1 }],
          output: "id|email|total\n7|****@example.com|90",
        },
        at + 5,
        meta,
      ),
    );
    if (approvalId) {
      const pending = pendingBudget.left > 0 && n % 7 === 0;
      if (pending) pendingBudget.left -= 1;
      const requested = event(
        "ApprovalRequested",
        {
          approvalId,
          requester: { subject: agent, groups: ["agents"], kind: "agent" },
          sessionId,
          taskId,
          target,
          command: `UPDATE ${relation} SET status = 'void'`,
          classification: { kinds: ["update"] },
          rule: "approve-writes",
          policyVersion: 3,
          approverGroups: ["dba"],
          quorum: 1,
          anyDenyEnds: true,
          expiresAt: new Date(T0 + SPAN_MS * 2).toISOString(),
        },
        at,
        {},
      );
      const voter = { subject: "dana", groups: ["dba"], kind: "human" };
      approvals.push({
        stream: `approval-${approvalId}`,
        events: pending
          ? [requested]
          : [
              requested,
              event("ApprovalVoteCast", { approvalId, voter, vote: "approve" }, at + 1000, {}),
              event("ApprovalGranted", { approvalId, approvers: ["dana"] }, at + 1000, {}),
            ],
      });
    }
  }
  events.push(
    event(
      "SessionEnded",
      { sessionId, reason: "client terminated", durationMs: 50_000 },
      start + 50_000,
      meta,
    ),
  );
  return { stream: `session-${sessionId}`, events, approvals };
}

/** Appends sessions until the target count, interleaving them the way concurrent agents do. */
async function fill(store: SqliteEventStore): Promise<{ events: number; sessions: number }> {
  const pendingBudget = { left: 300 };
  let events = 0;
  let sessions = 0;
  const inFlight = new Set<Promise<unknown>>();
  const append = async (stream: string, batch: NewEvent[]) => {
    const done = store.append(stream, batch);
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
    if (inFlight.size >= 64) await Promise.race(inFlight);
  };
  while (events < TARGET_EVENTS) {
    // A wave of 100 sessions, each appended in 5 slices, round robin.
    const wave = Array.from({ length: 100 }, () => session(sessions++, pendingBudget));
    for (let slice = 0; slice < 5; slice++) {
      for (const s of wave) {
        const size = Math.ceil(s.events.length / 5);
        const part = s.events.slice(slice * size, (slice + 1) * size);
        if (part.length > 0) await append(s.stream, part);
        events += part.length;
        if (slice === 2) for (const a of s.approvals) await append(a.stream, a.events);
        if (slice === 2) for (const a of s.approvals) events += a.events.length;
      }
    }
  }
  await Promise.all(inFlight);
  return { events, sessions };
}

async function time(run: () => Promise<unknown> | unknown): Promise<number[]> {
  for (let i = 0; i < Math.min(50, ITERATIONS); i++) await run(); // warm up
  const samples: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  return samples.sort((a, b) => a - b);
}

const dir = makeTempDir("bench-graphql");
const storePath = join(dir.path, "data", "sluice.db");
const readModelsPath = join(dir.path, "data", "read-models.db");
try {
  console.log(
    `building a log of ~${fmt(TARGET_EVENTS)} events (sessions of ${COMMANDS_PER_SESSION} commands) …`,
  );
  const store = await SqliteEventStore.open({ path: storePath });
  const filling = performance.now();
  const built = await fill(store);
  const head = await store.headPosition();
  console.log(
    `  ${fmt(built.events)} events, ${fmt(built.sessions)} sessions in ${((performance.now() - filling) / 1000).toFixed(1)} s`,
  );

  const reading = performance.now();
  let read = 0;
  for await (const _ of store.readAllRaw()) read += 1;
  const readRate = read / ((performance.now() - reading) / 1000);

  const db = openReadModels(readModelsPath);
  const runner = new ProjectionRunner({ store, db, projections: allProjections });
  const cpu = process.cpuUsage();
  const catching = performance.now();
  await runner.catchUp();
  const catchUpSeconds = (performance.now() - catching) / 1000;
  const used = process.cpuUsage(cpu);
  await runner.stop();
  const catchUpRate = Number(head) / catchUpSeconds;
  console.log("\nprojection catch-up (6 read models, one SQLite file)");
  console.log(`  baseline, $all read only:  ${fmt(readRate).padStart(9)} events/s`);
  console.log(
    `  catch-up into read models: ${fmt(catchUpRate).padStart(9)} events/s  (${catchUpSeconds.toFixed(1)} s, ` +
      `CPU ${((used.user + used.system) / 1e6).toFixed(1)} s; ratio to baseline ${(catchUpRate / readRate).toFixed(2)}x; target ≥ 50,000)`,
  );
  const reads = new ReadModels(db);
  await store.close();

  // A gateway on the same files: its runner finds the read models caught up.
  const provider = await startOidcProvider({ clientIds: ["audrey"] });
  const configFile = join(dir.path, "sluice.yaml");
  writeFileSync(
    configFile,
    `dataDir: ${join(dir.path, "data")}\nlog: { level: warn }\nledger: { sealIntervalSeconds: 0 }\napi: { port: 0 }\n` +
      `identity:\n  oidc:\n    issuer: ${provider.issuer}\n    audience: ${provider.audience}\n`,
  );
  const gateway = await startGateway(loadConfig({ file: configFile }), {
    log: createLogger("warn", "bench"),
  });
  const token = await provider.mintToken({
    clientId: "audrey",
    claims: { groups: ["auditors"] },
    ttlSeconds: 3600,
  });
  const gql = async (query: string, variables: Record<string, unknown>) => {
    const response = await fetch(`${gateway.apiUrl}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { errors?: unknown[]; data?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  };

  let k = 0;
  const nextSession = () => `s${(k++ * 7919) % built.sessions}`;
  const nextWindow = () => {
    const from = T0 + ((k++ * 104_729) % (DAYS - 1)) * 86_400_000;
    return { agent: `agent-${k % AGENTS}`, fromMs: from, toMs: from + 86_400_000 };
  };
  const queries = [
    {
      name: "session timeline (100 events)",
      graphql: async () => {
        const data = (await gql(
          "query($id: ID!) { session(id: $id) { id subject commandCount timeline(first: 100) { edges { node { position type at data } } } } }",
          { id: nextSession() },
        )) as { session: { timeline: { edges: unknown[] } } };
        if (data.session.timeline.edges.length < 50) throw new Error("unexpected timeline");
      },
      direct: () => reads.sessions.timeline(nextSession(), 0, 101),
    },
    {
      name: "audit search, agent + 1-day range",
      graphql: async () => {
        const w = nextWindow();
        await gql(
          "query($a: String, $from: DateTime, $to: DateTime) { auditSearch(filter: { agent: $a, from: $from, to: $to }) { edges { node { id at command decision rule policyVersion } } pageInfo { hasNextPage } } }",
          { a: w.agent, from: new Date(w.fromMs).toISOString(), to: new Date(w.toMs).toISOString() },
        );
      },
      direct: () => {
        const w = nextWindow();
        return reads.audit.search({ subject: w.agent, fromMs: w.fromMs, toMs: w.toMs, limit: 51 });
      },
    },
    {
      name: "approval queue (50 oldest pending)",
      graphql: async () => {
        const data = (await gql(
          "{ approvalQueue { edges { node { id command requester ageSeconds expiresInSeconds votes { voter } } } } }",
          {},
        )) as { approvalQueue: { edges: unknown[] } };
        if (data.approvalQueue.edges.length === 0) throw new Error("empty queue");
      },
      direct: () => reads.approvals.list({ status: "pending", oldestFirst: true, limit: 51 }),
    },
  ];
  console.log(
    `\nqueries at ${fmt(Number(head))} events (${ITERATIONS} runs each, GraphQL over HTTP with OIDC auth)`,
  );
  for (const q of queries) {
    const direct = await time(q.direct);
    const viaApi = await time(q.graphql);
    console.log(
      `  ${q.name.padEnd(36)} p50 ${ms(percentile(viaApi, 50)).padStart(9)}  p99 ${ms(percentile(viaApi, 99)).padStart(9)}` +
        `   direct read model p50 ${ms(percentile(direct, 50))} p99 ${ms(percentile(direct, 99))}` +
        `   ratio p99 ${(percentile(viaApi, 99) / percentile(direct, 99)).toFixed(1)}x  (target p99 < 50 ms)`,
    );
  }

  // Freshness: an event appended to the log, then polled for through GraphQL until it shows.
  const fresh: number[] = [];
  for (let i = 0; i < 30; i++) {
    const sessionId = `fresh-${i}`;
    const started = performance.now();
    await gateway.store.append(`session-${sessionId}`, [
      event(
        "SessionStarted",
        {
          sessionId,
          protocol: "postgres",
          target: "orders-db",
          identity: { subject: "agent-1", groups: ["agents"], kind: "agent" },
          client: { address: "10.0.0.7:1" },
        },
        Date.now(),
        { sessionId },
      ),
    ]);
    for (;;) {
      const data = (await gql("query($id: ID!) { session(id: $id) { id } }", { id: sessionId })) as {
        session: unknown;
      };
      if (data.session) break;
    }
    fresh.push(performance.now() - started);
  }
  fresh.sort((a, b) => a - b);
  console.log(
    `\nfreshness, append → visible in GraphQL (30 appends): p50 ${ms(percentile(fresh, 50))}, max ${ms(fresh[fresh.length - 1] as number)} (target < 1 s)`,
  );
  db.close();
  await gateway.stop();
  await provider.stop();
} finally {
  dir.remove();
}
