import { copyFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeMetadata, newEvent } from "../../src/events/index.ts";
import { RETENTION_STREAM } from "../../src/events/retention.ts";
import { signCanonical } from "../../src/eventstore/signed.ts";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { verifyLedger } from "../../src/eventstore/verify.ts";
import { readManifest } from "../../src/export/manifest.ts";
import { runRetention } from "../../src/export/retention.ts";
import { verifyExport } from "../../src/export/verify-export.ts";
import { loadOrCreateSigningKey, type SigningKey } from "../../src/identity/signing-key.ts";
import { runSluice } from "../support/cli.ts";
import { collect } from "../support/events.ts";
import { buildFullLog, START } from "../support/export-log.ts";
import { makeDataDir } from "../support/ledger.ts";

/**
 * Retention end to end: sealed ranges older than the hot period are archived and removed, the
 * removal is an event, and `sluice verify` stays valid across the gap — and fails when anything
 * about the gap is tampered with.
 */
describe("retention: archive, remove, verify across the gap", () => {
  let paths: ReturnType<typeof makeDataDir>;
  let key: SigningKey;
  let removedRaw: Record<string, unknown>[];
  let pristine: string;

  beforeAll(async () => {
    paths = makeDataDir();
    key = await loadOrCreateSigningKey(paths.keyFile);
    const store = await SqliteEventStore.open({ path: paths.dbPath });
    await buildFullLog(store, key);
    // credential-c1 goes on after the sealed ranges: retention must carry its chain over the cut.
    await store.append("credential-c1", [
      newEvent("CredentialExpired", { credentialId: "c1" }, makeMetadata({ gatewayInstance: "gw-1" })),
    ]);
    await store.close();
    const before = new Database(paths.dbPath, { readonly: true });
    removedRaw = before.prepare("SELECT * FROM events WHERE position <= 49").all() as Record<
      string,
      unknown
    >[];
    before.close();
  });
  afterAll(() => rmSync(paths.dir, { recursive: true, force: true }));

  it("the CLI archives and removes the sealed ranges older than the hot period, and verify accepts the gap", async () => {
    const dryRun = await runSluice([
      "retention",
      "run",
      "--config",
      paths.configFile,
      "--hot-days",
      "30",
      "--dry-run",
    ]);
    expect(dryRun.stdout).toBe("would archive and remove positions 0..49: 49 events under 2 seals\n");
    const run = await runSluice(["retention", "run", "--config", paths.configFile, "--hot-days", "30"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^archived positions 0\.\.49 \(49 events, 2 seals\) to .*ledger-0-49; removed 45\n$/,
    );
    const again = await runSluice(["retention", "run", "--config", paths.configFile, "--hot-days", "30"]);
    expect(again.stdout).toMatch(/^nothing to remove/);

    const verify = await runSluice(["verify", "--config", paths.configFile]);
    expect(verify.stdout).toMatch(
      /^ledger intact: 13 events checked in 8 streams, 2 seals, 9 events after the last seal; 45 events in 1 sealed ranges removed by retention/,
    );
    expect(verify.code).toBe(0);

    const archive = join(paths.dir, "data", "archive", "ledger-0-49");
    const archived = await runSluice(["verify", "--config", paths.configFile, "--export", archive]);
    expect(archived.stdout).toMatch(
      /^export intact: jsonl export, 49 events, .* 2 seal signatures checked, 2 Merkle roots recomputed/,
    );
    pristine = join(paths.dir, "after-removal.db");
    copyFileSync(paths.dbPath, pristine);
  });

  it("the removal event names the range, its seals, the archive's manifest hash and the carried chain", async () => {
    const store = await SqliteEventStore.open({ path: paths.dbPath });
    try {
      const [removal] = await collect(store.readStream(RETENTION_STREAM));
      const archive = join(paths.dir, "data", "archive", "ledger-0-49");
      expect(removal?.type).toBe("LedgerRangeRemoved");
      expect(removal?.data).toMatchObject({
        fromPosition: "0",
        toPosition: "49",
        removed: 45,
        seals: [{ toPosition: "21" }, { toPosition: "49" }],
        kept: { count: 4 }, // the policy version, the target's two events, the first seal
        carried: [{ stream: "credential-c1", revision: "4" }],
        archive: { format: "jsonl", location: "ledger-0-49", manifestSha256: readManifest(archive).sha256 },
      });
      // An export now starts after the removed range and names where it went.
      const dir = join(paths.dir, "export-after");
      const result = await runSluice(["export", "--config", paths.configFile, "--out", dir]);
      expect(result.stdout).toMatch(/1 earlier range\(s\) were removed by retention/);
      expect(readManifest(dir).manifest).toMatchObject({
        range: { afterPosition: "49" },
        removed: [{ fromPosition: "0", toPosition: "49", archive: { location: "ledger-0-49" } }],
      });
      expect(await verifyExport(dir, key.publicKey)).toMatchObject({ ok: true });
    } finally {
      await store.close();
    }
  });

  /** Restores the state right after removal, alters it, and verifies. */
  async function verifyAfter(tamper: (db: Database.Database) => unknown) {
    for (const suffix of ["-wal", "-shm"]) rmSync(`${paths.dbPath}${suffix}`, { force: true });
    copyFileSync(pristine, paths.dbPath);
    const db = new Database(paths.dbPath);
    await tamper(db);
    db.close();
    const store = await SqliteEventStore.open({ path: paths.dbPath });
    try {
      return await verifyLedger(store, key.publicKey);
    } finally {
      await store.close();
    }
  }

  it("fails when an event kept inside the removed range is deleted", async () => {
    const report = await verifyAfter((db) => db.prepare("DELETE FROM events WHERE stream = 'policy'").run());
    expect(report.ok).toBe(false);
    expect(report.broken?.reason).toMatch(
      /the events left in the removed range 0\.\.49 are not the 4 its removal recorded/,
    );
  });

  it("fails when a removed event is put back", async () => {
    const report = await verifyAfter((db) => {
      const row = removedRaw.find((r) => r.stream === "session-pg1" && Number(r.revision) === 0) as Record<
        string,
        unknown
      >;
      db.prepare(
        "INSERT INTO events (position, stream, revision, id, type, data, metadata, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ).run(row.position, row.stream, row.revision, row.id, row.type, row.data, row.metadata, row.hash);
    });
    expect(report.broken?.reason).toMatch(
      /the range 0\.\.49 was removed \(position \d+\), yet this event is in it/,
    );
  });

  it("fails when the removal event is deleted: the gap is unexplained", async () => {
    const report = await verifyAfter((db) =>
      db.prepare("DELETE FROM events WHERE stream = '$retention'").run(),
    );
    expect(report.broken?.reason).toMatch(
      /seal 0: positions 0\.\.21 hold \d+ events whose Merkle root does not match/,
    );
  });

  it("fails when a removal is forged with another key (someone deleting sealed history)", async () => {
    const forger = await loadOrCreateSigningKey(join(paths.dir, "forger", "key.jwk"));
    const report = await verifyAfter(async (db) => {
      const row = db.prepare("SELECT data FROM events WHERE stream = '$retention'").get() as { data: string };
      const { keyId: _k, signature: _s, ...payload } = JSON.parse(row.data);
      payload.carried = [];
      const forged = JSON.stringify(await signCanonical(payload, forger));
      db.prepare("UPDATE events SET data = ? WHERE stream = '$retention'").run(forged);
    });
    expect(report.broken?.reason).toMatch(/removal 0: the signature does not verify/);
  });

  it("fails when the carried chain does not continue: the first event after the cut was altered", async () => {
    const report = await verifyAfter((db) =>
      db
        .prepare("UPDATE events SET data = replace(data, '\"c1\"', '\"c9\"') WHERE stream = 'credential-c1'")
        .run(),
    );
    expect(report.broken).toMatchObject({ stream: "credential-c1", revision: 5n });
    expect(report.broken?.reason).toMatch(/hash does not match/);
  });

  it("removes range after range, each at most the configured size, and the log goes on verifiably", async () => {
    const paths2 = makeDataDir();
    try {
      const store = await SqliteEventStore.open({ path: paths2.dbPath });
      await buildFullLog(store, key);
      const archiveDir = join(paths2.dir, "archive");
      const ranges = await runRetention(store, {
        key,
        gatewayInstance: "gw-1",
        olderThan: new Date(START + 3_600_000),
        archiveDir,
        maxEventsPerRemoval: 25,
      });
      // Seals of 21 and 28 events: one range each, since both together exceed 25.
      expect(ranges.map((r) => [r.fromPosition, r.toPosition, r.events])).toEqual([
        ["0", "21", 21],
        ["21", "49", 28],
      ]);
      expect(readdirSync(archiveDir).sort()).toEqual(["ledger-0-21", "ledger-21-49"]);
      await store.append("session-pg2", [
        newEvent(
          "SessionEnded",
          { sessionId: "pg2", reason: "done", durationMs: 1 },
          makeMetadata({ gatewayInstance: "gw-1" }),
        ),
      ]);
      const report = await verifyLedger(store, key.publicKey);
      expect(report).toMatchObject({ ok: true, removed: { ranges: 2 } });
      await store.close();
    } finally {
      rmSync(paths2.dir, { recursive: true, force: true });
    }
  });
});
