import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalogue } from "../../src/events/index.ts";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { CSV_COLUMNS } from "../../src/export/csv.ts";
import { runExport } from "../../src/export/export.ts";
import { OCSF_VERSION } from "../../src/export/ocsf-base.ts";
import { checkOcsfRecord } from "../../src/export/ocsf-shapes.ts";
import { verifyExport } from "../../src/export/verify-export.ts";
import { loadOrCreateSigningKey, type SigningKey } from "../../src/identity/signing-key.ts";
import { collect } from "../support/events.ts";
import { buildFullLog, type FullLog, START } from "../support/export-log.ts";
import { makeTempDir, type TempDir } from "../support/tempdir.ts";

/** Each format exported from a log holding every kind of event, then checked against the log itself. */
describe("exports of a log with every kind of event", () => {
  let temp: TempDir;
  let store: SqliteEventStore;
  let key: SigningKey;
  let log: FullLog;
  let exports = 0;
  const outDir = () => join(temp.path, `export-${++exports}`);
  const exportAll = (format: "jsonl" | "csv" | "ocsf", extra: object = {}) => {
    const dir = outDir();
    return runExport(store, { format, outDir: dir, key, gatewayInstance: "gw-test", ...extra }).then(
      (manifest) => ({ dir, manifest }),
    );
  };

  beforeAll(async () => {
    temp = makeTempDir("export");
    key = await loadOrCreateSigningKey(join(temp.path, "keys", "ledger.jwk"));
    store = await SqliteEventStore.open({ path: join(temp.path, "sluice.db") });
    log = await buildFullLog(store, key);
  });
  afterAll(async () => {
    await store.close();
    temp.remove();
  });

  it("runs on a log that holds every event kind of the catalogue", async () => {
    const types = new Set((await collect(store.readAllRaw())).map((e) => e.type));
    const missing = Object.keys(catalogue).filter((t) => t !== "LedgerRangeRemoved" && !types.has(t));
    // A new event kind belongs in test/integration/export-log.ts too.
    expect(missing).toEqual([]);
  });

  it("JSONL holds every event as stored, with the previous hash, and proves both seals", async () => {
    const { dir, manifest } = await exportAll("jsonl");
    const stored = await collect(store.readAllRaw());
    const lines = readFileSync(join(dir, "events.jsonl"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(stored.length);
    for (const [i, event] of stored.entries()) {
      expect(lines[i]).toMatchObject({
        position: event.position.toString(),
        stream: event.stream,
        revision: event.revision.toString(),
        type: event.type,
        hash: event.hash,
        data: event.data,
        metadata: event.metadata,
      });
    }
    // prevHash is the hash of the stream's previous event (or genesis).
    const second = stored.find((e) => e.stream === "session-pg1" && e.revision === 1n);
    const first = stored.find((e) => e.stream === "session-pg1" && e.revision === 0n);
    expect(lines.find((l) => l.hash === second?.hash).prevHash).toBe(first?.hash);
    expect(lines[0].prevHash).toBe("0".repeat(64));

    expect(manifest.counts.events).toBe(log.events);
    expect(manifest.range).toMatchObject({ afterPosition: "0", toPosition: String(log.events) });
    expect(manifest.seals).toEqual({ file: "seals.jsonl", count: 2 });
    expect(manifest.files.map((f) => f.name)).toEqual(["events.jsonl", "seals.jsonl"]);
    expect(manifest.coverage.unsealedEvents).toBe(7);
    const report = await verifyExport(dir, key.publicKey);
    expect(report).toMatchObject({
      ok: true,
      events: log.events,
      seals: 2,
      sealsProved: 2,
      unsealedEvents: 7,
    });
  });

  it("CSV has one row per command decision with its session and completion, quoted per RFC 4180", async () => {
    const { dir, manifest } = await exportAll("csv");
    const [header, ...rows] = parseCsv(readFileSync(join(dir, "commands.csv"), "utf8"));
    expect(header).toEqual([...CSV_COLUMNS]);
    expect(rows).toHaveLength(log.commands.length);
    expect(manifest.counts.records).toBe(log.commands.length);
    const byId = new Map(
      rows.map((row) => [row[3], Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, row[i]]))]),
    );
    for (const command of log.commands) {
      const row = byId.get(command.commandId);
      expect(row, command.commandId).toMatchObject({
        protocol: command.protocol,
        decision: command.decision,
        command: command.command,
        status: command.status ?? "",
        agent: "agent-7",
      });
    }
    expect(byId.get("cmd-1")).toMatchObject({
      target: "orders-db",
      client_address: "127.0.0.1:50432",
      rows: "3",
      rule: "agents-read",
      policy_version: "1",
    });
    expect(byId.get("cmd-2")).toMatchObject({ decision: "deny", rule: "no-drop", status: "denied" });
    expect(byId.get("cmd-3")).toMatchObject({
      decision: "require_approval",
      approval_id: "a1",
      status: "ok",
    });
    expect(byId.get("cmd-4")).toMatchObject({
      command: "SELECT 'a, \"b\"\nc' FROM nope",
      error: '42P01: relation "nope" does not exist',
    });
    expect(byId.get("cmd-7")).toMatchObject({ target: "prod-cluster", approval_id: "a2", status: "denied" });
    // The tail decision had no completion when the log ended.
    expect(byId.get("cmd-8")).toMatchObject({ status: "", completed_at: "" });
    expect(await verifyExport(dir, key.publicKey)).toMatchObject({ ok: true, records: log.commands.length });
  });

  it("OCSF records conform to the OCSF 1.3.0 shapes of their classes and map each event as documented", async () => {
    const { dir, manifest } = await exportAll("ocsf");
    expect(manifest.ocsfVersion).toBe(OCSF_VERSION);
    const records = readFileSync(join(dir, "ocsf.jsonl"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    for (const record of records) expect(checkOcsfRecord(record), JSON.stringify(record)).toBeNull();

    const count = (classUid: number, activity?: number) =>
      records.filter(
        (r) => r.class_uid === classUid && (activity === undefined || r.activity_id === activity),
      ).length;
    const sessions = log.sessions.length;
    expect(count(3002, 1)).toBe(sessions);
    expect(count(3002, 2)).toBe(sessions - 1); // pg2 has not ended
    expect(count(3003, 2)).toBe(log.sessions.reduce((n, s) => n + s.groups.length, 0));
    expect(count(3003, 1)).toBe(log.credentialsIssued);
    expect(count(6005)).toBe(log.commands.filter((c) => c.protocol === "postgres").length);
    expect(count(4007, 99)).toBe(log.commands.filter((c) => c.protocol === "ssh").length);
    expect(count(4007, 1) + count(4007, 2)).toBe(2); // the SSH session opened and closed
    expect(count(6003)).toBe(
      log.commands.filter((c) => c.protocol === "http" || c.protocol === "kubernetes").length,
    );
    expect(records).toHaveLength(manifest.counts.records);

    const command = (id: string) => records.find((r) => r.unmapped?.sluice_command_id === id);
    expect(command("cmd-1")).toMatchObject({
      activity_name: "Query",
      action: "Allowed",
      status: "Success",
      database: { name: "orders-db" },
      table: { name: "public.customers" },
      query_info: { query_string: "SELECT id, email FROM customers" },
      src_endpoint: { ip: "127.0.0.1", port: 50432 },
      actor: {
        user: { uid: "agent-7" },
        authorizations: [{ decision: "allow", policy: { name: "agents-read", version: "1" } }],
      },
    });
    expect(command("cmd-2")).toMatchObject({
      activity_name: "Delete",
      action_id: 2,
      disposition: "Blocked",
      status: "Failure",
      severity: "Medium",
    });
    expect(command("cmd-5")).toMatchObject({
      class_uid: 4007,
      message: "uname -a",
      src_endpoint: { ip: "::1", port: 52022 },
    });
    expect(command("cmd-6")).toMatchObject({
      activity_name: "Read",
      api: { operation: "GET", service: { name: "billing-api" } },
      http_request: { url: { path: "/v1/invoices", query_string: "status=open" } },
    });
    expect(command("cmd-7")).toMatchObject({
      activity_name: "Delete",
      action: "Denied",
      api: { operation: "delete" },
      resources: [{ type: "pods", name: "web-1", namespace: "shop" }],
    });
    const logon = records.find(
      (r) => r.class_uid === 3002 && r.session?.uid === "pg1" && r.activity_id === 1,
    );
    expect(logon).toMatchObject({
      user: { uid: "agent-7", groups: [{ name: "agents" }, { name: "readers" }] },
      service: { name: "orders-db" },
      session: { credential_uid: "c1" },
      auth_protocol: "Sluice credential",
    });
    expect(logon.time).toBe(START + 6 * 60_000);
    expect(await verifyExport(dir, key.publicKey)).toMatchObject({ ok: true });
  });

  it("a time window exports the contiguous range from its first event, with the seals overlapping it", async () => {
    const from = new Date(START + 10 * 60_000);
    const to = new Date(START + 30 * 60_000);
    const { dir, manifest } = await exportAll("jsonl", { from, to });
    const lines = readFileSync(join(dir, "events.jsonl"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(20);
    expect(
      lines.every(
        (l) => Date.parse(l.metadata.time) >= from.getTime() && Date.parse(l.metadata.time) < to.getTime(),
      ),
    ).toBe(true);
    expect(manifest.range).toMatchObject({
      afterPosition: "10",
      toPosition: "30",
      from: from.toISOString(),
      to: to.toISOString(),
    });
    const seals = readFileSync(join(dir, "seals.jsonl"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(seals.map((s) => [s.position, s.data.fromPosition, s.data.toPosition])).toEqual([
      ["22", "0", "21"],
      ["50", "21", "49"],
    ]);
    // Neither seal lies inside the window: their signatures are checked, their roots need the whole range.
    expect(await verifyExport(dir, key.publicKey)).toMatchObject({ ok: true, seals: 2, sealsProved: 0 });
  });

  it("--seal seals the tail first, so every exported event is covered", async () => {
    const { dir, manifest } = await exportAll("jsonl", { seal: true });
    expect(manifest.coverage.unsealedEvents).toBe(0);
    expect(await verifyExport(dir, key.publicKey)).toMatchObject({ ok: true, sealsProved: 3 });
  });

  it("refuses a directory that is not empty", async () => {
    const { dir } = await exportAll("csv");
    await expect(
      runExport(store, { format: "csv", outDir: dir, key, gatewayInstance: "gw-test" }),
    ).rejects.toThrow(/not empty/);
  });
});

/** RFC 4180 records: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  return rows;
}
