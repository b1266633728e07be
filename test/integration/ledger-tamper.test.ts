import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonical, eventHash, GENESIS } from "../../src/eventstore/chain.ts";
import { signSeal } from "../../src/eventstore/seal.ts";
import { loadOrCreateSigningKey } from "../../src/identity/signing-key.ts";
import { runSluice } from "../support/cli.ts";
import { openSealedLog } from "../support/ledger.ts";

/**
 * Each test alters a copy of a sealed SQLite log the way an attacker with file access
 * could, then runs the real `sluice verify`: it must exit 1 and name the broken place.
 */
describe("sluice verify detects tampering", () => {
  let log: Awaited<ReturnType<typeof openSealedLog>>;
  let pristine: string;

  beforeAll(async () => {
    log = await openSealedLog();
    pristine = join(log.dir, "pristine.db");
    copyFileSync(log.dbPath, pristine);
  });
  afterAll(() => rmSync(log.dir, { recursive: true, force: true }));

  /** Restores the pristine log, applies `tamper` to it, runs verify. */
  async function verifyAfter(tamper: (db: Database.Database) => void) {
    rmSync(join(log.dir, "data", "sluice.db-wal"), { force: true });
    rmSync(join(log.dir, "data", "sluice.db-shm"), { force: true });
    copyFileSync(pristine, log.dbPath);
    const db = new Database(log.dbPath);
    db.defaultSafeIntegers(true);
    tamper(db);
    db.close();
    return runSluice(["verify", "--config", log.configFile]);
  }

  const row = (db: Database.Database, position: number) =>
    db.prepare("SELECT * FROM events WHERE position = ?").get(position) as Record<string, string | bigint>;

  it("passes on the untouched log", async () => {
    const result = await verifyAfter(() => {});
    expect(result.stdout).toMatch(
      /ledger intact: 48 events checked in 9 streams, 2 seals, 5 events after the last seal/,
    );
    expect(result.code).toBe(0);
  });

  for (const [column, position] of [
    ["data", 3],
    ["metadata", 12],
    ["type", 20],
    ["hash", 7],
  ] as const) {
    it(`names the event when one byte of its ${column} changes`, async () => {
      const result = await verifyAfter((db) => {
        const value = String(row(db, position)[column]);
        const i = column === "hash" ? 10 : value.indexOf('"') + 2;
        const flipped = value.slice(0, i) + (value[i] === "a" ? "b" : "a") + value.slice(i + 1);
        db.prepare(`UPDATE events SET ${column} = ? WHERE position = ?`).run(flipped, position);
      });
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(
        new RegExp(`BROKEN at stream "session-s\\d" revision \\d+ position ${position}:`),
      );
    });
  }

  it("names the gap when an event inside a stream is deleted", async () => {
    const result = await verifyAfter((db) => db.prepare("DELETE FROM events WHERE position = 3").run());
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /BROKEN at stream "session-s0" revision 3 position 4: revision 3 where 2 was due/,
    );
  });

  it("names the seal when the last event of a stream is deleted", async () => {
    const result = await verifyAfter((db) => db.prepare("DELETE FROM events WHERE position = 6").run());
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /BROKEN at stream "\$seals" revision 0 position 25: seal 0: positions 0..24 hold 23 events/,
    );
  });

  it("names the place when two events of one stream are swapped", async () => {
    const result = await verifyAfter((db) => swapRows(db, 2, 3));
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/BROKEN at stream "session-s0" revision 2 position 2/);
  });

  it("names the seal when two events of different streams swap places in $all", async () => {
    const result = await verifyAfter((db) => swapRows(db, 6, 7));
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /BROKEN at stream "\$seals" revision 0 position 25: seal 0: .*Merkle root does not match/,
    );
  });

  it("refuses a seal forged with another key, even with a correct hash chain", async () => {
    const forger = await loadOrCreateSigningKey(join(log.dir, "forger", "key.jwk"));
    const seal = row(await openReadonly(), 25);
    const data = JSON.parse(String(seal.data));
    const { keyId: _k, signature: _s, ...payload } = data;
    const forged = await signSeal(payload, forger);
    const result = await verifyAfter((db) => rewriteData(db, 25, forged));
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /BROKEN at stream "\$seals" revision 0 position 25: seal 0: the signature does not verify/,
    );
  });

  it("refuses a seal whose fields were changed under a valid signature", async () => {
    const result = await verifyAfter((db) => {
      const data = JSON.parse(String(row(db, 25).data));
      rewriteData(db, 25, { ...data, count: data.count - 1 });
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /BROKEN at stream "\$seals" revision 0 position 25: seal 0: the signature covers different seal fields/,
    );
  });

  it("names the gap when a seal is removed", async () => {
    const result = await verifyAfter((db) => db.prepare("DELETE FROM events WHERE position = 25").run());
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/BROKEN at stream "\$seals" revision 1 .*revision 1 where 0 was due/);
  });

  async function openReadonly() {
    mkdirSync(join(log.dir, "ro"), { recursive: true });
    const copy = join(log.dir, "ro", "copy.db");
    copyFileSync(pristine, copy);
    const db = new Database(copy, { readonly: true });
    db.defaultSafeIntegers(true);
    return db;
  }
});

function swapRows(db: Database.Database, a: number, b: number) {
  const cols = "stream, revision, id, type, data, metadata, hash";
  const ra = db.prepare(`SELECT ${cols} FROM events WHERE position = ?`).get(a) as Record<string, unknown>;
  const rb = db.prepare(`SELECT ${cols} FROM events WHERE position = ?`).get(b) as Record<string, unknown>;
  const update = db.prepare(
    "UPDATE events SET stream = @stream, revision = @revision, id = @id, type = @type, data = @data, metadata = @metadata, hash = @hash WHERE position = @position",
  );
  db.transaction(() => {
    db.prepare("UPDATE events SET id = 'x', revision = -1, stream = 'tmp' WHERE position = ?").run(a);
    update.run({ ...rb, position: b + 1000 });
    db.prepare("UPDATE events SET id = 'y', revision = -2 WHERE position = ?").run(b);
    update.run({ ...ra, position: b });
    update.run({ ...rb, position: a });
  })();
}

/** Rewrites an event's data and re-chains its hash, as a forger who knows the algorithm would. */
function rewriteData(db: Database.Database, position: number, data: unknown) {
  const r = db.prepare("SELECT * FROM events WHERE position = ?").get(position) as {
    stream: string;
    revision: bigint;
    type: string;
    metadata: string;
  };
  const prev = db
    .prepare("SELECT hash FROM events WHERE stream = ? AND revision = ?")
    .get(r.stream, r.revision - 1n) as { hash: string } | undefined;
  const dataJson = canonical(data);
  const hash = eventHash(prev?.hash ?? GENESIS, {
    stream: r.stream,
    revision: r.revision,
    type: r.type,
    dataJson,
    metadataJson: r.metadata,
  });
  db.prepare("UPDATE events SET data = ?, hash = ? WHERE position = ?").run(dataJson, hash, position);
}
