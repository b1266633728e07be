import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonical, eventHash } from "../../src/eventstore/chain.ts";
import { signSeal } from "../../src/eventstore/seal.ts";
import { signCanonical } from "../../src/eventstore/signed.ts";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { loadOrCreateSigningKey, type SigningKey } from "../../src/identity/signing-key.ts";
import { runSluice, SLUICE_BIN } from "../support/cli.ts";
import { buildFullLog } from "../support/export-log.ts";
import { makeDataDir } from "../support/ledger.ts";

/**
 * Exports made with the real `sluice export`, then altered the way someone holding the files (or,
 * for the deep checks, even the gateway's key) could: `sluice verify --export` must exit 1 and say why.
 */
describe("sluice export and sluice verify --export", () => {
  let paths: ReturnType<typeof makeDataDir>;
  let key: SigningKey;
  const exported: { [format: string]: string } = {};
  let copies = 0;

  beforeAll(async () => {
    paths = makeDataDir();
    key = await loadOrCreateSigningKey(paths.keyFile);
    const store = await SqliteEventStore.open({ path: paths.dbPath });
    await buildFullLog(store, key);
    await store.close();
    for (const format of ["jsonl", "csv", "ocsf"]) {
      exported[format] = join(paths.dir, `export-${format}`);
      const result = await runSluice([
        "export",
        "--config",
        paths.configFile,
        "--format",
        format,
        "--out",
        exported[format] as string,
      ]);
      expect(result.stderr).toBe(""); // no progress bar when stderr is not a terminal
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^exported 56 events \(positions 0\.\.56\)/);
    }
  });
  afterAll(() => rmSync(paths.dir, { recursive: true, force: true }));

  /** A fresh copy of an export, altered by `tamper`, then verified by the CLI. */
  async function verifyAfter(format: string, tamper: (dir: string) => void | Promise<void>) {
    const dir = join(paths.dir, `copy-${++copies}`);
    cpSync(exported[format] as string, dir, { recursive: true });
    await tamper(dir);
    return runSluice(["verify", "--config", paths.configFile, "--export", dir]);
  }

  const manifestOf = (dir: string) => JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  /** Rewrites the manifest for the current file contents and signs it with `signer` (the gateway's key by default). */
  async function resign(dir: string, change: (m: Record<string, unknown>) => void = () => {}, signer = key) {
    const { keyId: _k, signature: _s, ...payload } = manifestOf(dir);
    for (const file of payload.files) {
      const bytes = readFileSync(join(dir, file.name));
      file.bytes = statSync(join(dir, file.name)).size;
      file.sha256 = createHash("sha256").update(bytes).digest("hex");
      file.records = bytes.toString("utf8").trimEnd().split("\n").length;
    }
    change(payload);
    writeFileSync(join(dir, "manifest.json"), JSON.stringify(await signCanonical(payload, signer), null, 2));
  }
  const rehash = (e: {
    prevHash: string;
    stream: string;
    revision: string;
    type: string;
    data: unknown;
    metadata: unknown;
  }) =>
    eventHash(e.prevHash, {
      stream: e.stream,
      revision: BigInt(e.revision),
      type: e.type,
      dataJson: canonical(e.data),
      metadataJson: canonical(e.metadata),
    });
  const jsonl = (dir: string) => join(dir, "events.jsonl");
  const lines = (dir: string) => readFileSync(jsonl(dir), "utf8").trimEnd().split("\n");

  it("verifies each untouched export", async () => {
    for (const format of ["jsonl", "csv", "ocsf"]) {
      const result = await verifyAfter(format, () => {});
      expect(result.stdout).toMatch(new RegExp(`^export intact: ${format} export, 56 events`));
      expect(result.code).toBe(0);
    }
  });

  it("detects one changed byte in the events file", async () => {
    const result = await verifyAfter("jsonl", (dir) => {
      const text = readFileSync(jsonl(dir), "utf8");
      writeFileSync(jsonl(dir), text.replace("DROP TABLE invoices", "DROP TABLE invoicez"));
    });
    expect(result.stdout).toMatch(
      /export BROKEN: events\.jsonl: its SHA-256 or size differs from the manifest's/,
    );
    expect(result.code).toBe(1);
  });

  it("detects a changed CSV row and a removed OCSF record", async () => {
    const csv = await verifyAfter("csv", (dir) => {
      const path = join(dir, "commands.csv");
      writeFileSync(path, readFileSync(path, "utf8").replace(",deny,no-drop,", ",allow,no-drop,"));
    });
    expect(csv.stdout).toMatch(/export BROKEN: commands\.csv: its SHA-256 or size differs/);
    const ocsf = await verifyAfter("ocsf", (dir) => {
      const path = join(dir, "ocsf.jsonl");
      writeFileSync(path, `${readFileSync(path, "utf8").trimEnd().split("\n").slice(1).join("\n")}\n`);
    });
    expect(ocsf.stdout).toMatch(/export BROKEN: ocsf\.jsonl: its SHA-256 or size differs/);
    expect([csv.code, ocsf.code]).toEqual([1, 1]);
  });

  it("detects a manifest field changed under its signature", async () => {
    const result = await verifyAfter("jsonl", (dir) => {
      const manifest = manifestOf(dir);
      manifest.counts.events -= 1;
      writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
    });
    expect(result.stdout).toMatch(/export BROKEN: manifest: the signature covers different fields/);
    expect(result.code).toBe(1);
  });

  it("refuses a manifest re-signed with another key after the file was changed", async () => {
    const forger = await loadOrCreateSigningKey(join(paths.dir, "forger", "key.jwk"));
    const result = await verifyAfter("jsonl", async (dir) => {
      writeFileSync(jsonl(dir), `${lines(dir).slice(0, -1).join("\n")}\n`);
      await resign(
        dir,
        (m) => {
          (m.counts as { events: number }).events -= 1;
        },
        forger,
      );
    });
    expect(result.stdout).toMatch(/export BROKEN: manifest: the signature does not verify/);
    expect(result.code).toBe(1);
  });

  it("reports a missing manifest", async () => {
    const result = await verifyAfter("csv", (dir) => rmSync(join(dir, "manifest.json")));
    expect(result.stdout).toMatch(/export BROKEN: no export manifest in/);
    expect(result.code).toBe(1);
  });

  it("even with the gateway's key, an altered event is caught by its seal's Merkle root", async () => {
    const result = await verifyAfter("jsonl", async (dir) => {
      const all = lines(dir).map((l) => JSON.parse(l));
      const victim = all.findIndex(
        (e) => e.type === "CommandDecided" && e.data.command === "DROP TABLE invoices",
      );
      const event = all[victim];
      event.data.decision = "allow";
      // The event's own hash is recomputed, so only the seal can tell.
      event.hash = rehash(event);
      // The events after it in its stream are rehashed too, so the chain holds.
      let previous = event;
      for (const later of all.slice(victim + 1).filter((e) => e.stream === event.stream)) {
        later.prevHash = previous.hash;
        later.hash = rehash(later);
        previous = later;
      }
      writeFileSync(jsonl(dir), `${all.map((e) => JSON.stringify(e)).join("\n")}\n`);
      await resign(dir);
    });
    expect(result.stdout).toMatch(
      /export BROKEN: events\.jsonl: the 21 events of seal 0\.\.21 do not match its signed Merkle root/,
    );
    expect(result.code).toBe(1);
  });

  it("even with the gateway's key, a dropped event is caught by the chain of its stream", async () => {
    const result = await verifyAfter("jsonl", async (dir) => {
      const kept = lines(dir).filter((l) => !l.includes('"type":"ApprovalVoteCast"'));
      writeFileSync(jsonl(dir), `${kept.join("\n")}\n`);
      await resign(dir, (m) => {
        const counts = m.counts as { events: number; byType: Record<string, number> };
        counts.events -= 2;
        delete counts.byType.ApprovalVoteCast;
      });
    });
    expect(result.stdout).toMatch(
      /export BROKEN: events\.jsonl: line \d+ \(position \d+\): it does not follow the previous event of stream "approval-a1"/,
    );
    expect(result.code).toBe(1);
  });

  it("even with the gateway's key over the manifest, a forged seal fails its own signature", async () => {
    const forger = await loadOrCreateSigningKey(join(paths.dir, "forger2", "key.jwk"));
    const result = await verifyAfter("jsonl", async (dir) => {
      const path = join(dir, "seals.jsonl");
      const [first, ...rest] = readFileSync(path, "utf8")
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l));
      const { keyId: _sk, signature: _ss, ...seal } = first.data;
      first.data = await signSeal({ ...seal, count: seal.count + 1 }, forger);
      writeFileSync(path, `${[first, ...rest].map((s) => JSON.stringify(s)).join("\n")}\n`);
      await resign(dir);
    });
    expect(result.stdout).toMatch(/export BROKEN: seal at position 22: the signature does not verify/);
    expect(result.code).toBe(1);
  });

  it("shows a progress bar when stderr is a terminal", async () => {
    const out = join(paths.dir, "export-tty");
    const command = [process.execPath, SLUICE_BIN, "export", "--config", paths.configFile, "--out", out];
    // script(1) gives the command a pseudo-terminal, as an operator's shell would.
    const result = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn("script", ["-qec", command.map((part) => `'${part}'`).join(" "), "/dev/null"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (chunk) => {
        output += chunk;
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, output }));
    });
    expect(result.output).toMatch(/exporting \[[=\-\u2591\u2588 ]+\] 56\/56 events/);
    expect(result.code).toBe(0);
  });

  it("rejects a time that is not ISO 8601", async () => {
    const result = await runSluice(["export", "--config", paths.configFile, "--from", "yesterday-ish"]);
    expect(result.stderr).toMatch(/--from must be an ISO 8601 date or time/);
    expect(result.code).toBe(2);
  });
});
