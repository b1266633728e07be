import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { runSluice } from "../support/cli.ts";
import { collect } from "../support/events.ts";
import { makeDataDir } from "../support/ledger.ts";

const TSX = createRequire(import.meta.url).resolve("tsx");
const WRITER = fileURLToPath(new URL("../support/crash-writer.ts", import.meta.url));

/** Starts the writer, waits for `acks` acknowledgements, then SIGKILLs it mid-stream. */
async function writeUntilKilled(configFile: string, acks: number): Promise<Map<string, [bigint, bigint]>> {
  const child = spawn(process.execPath, ["--import", TSX, WRITER, configFile, "32"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const acked = new Map<string, [bigint, bigint]>();
  let buffer = "";
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", () => resolve());
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        const [word, stream, revision, position] = line.split(" ");
        if (word !== "ack" || !stream) continue;
        acked.set(stream, [BigInt(revision as string), BigInt(position as string)]);
        if (++seen === acks) child.kill("SIGKILL");
      }
    });
  });
  expect(child.signalCode).toBe("SIGKILL");
  return acked;
}

describe("crash safety (SQLite)", () => {
  const paths = makeDataDir();
  afterAll(() => rmSync(paths.dir, { recursive: true, force: true }));

  it("keeps every resolved append, leaves no partial one, and verifies after SIGKILL", async () => {
    const acked = await writeUntilKilled(paths.configFile, 3000);
    expect(acked.size).toBe(32);

    const store = await SqliteEventStore.open({ path: paths.dbPath });
    const events = await collect(store.readAll());
    await store.close();
    const byStream = new Map<string, { revision: bigint; position: bigint }[]>();
    for (const e of events) byStream.set(e.stream, [...(byStream.get(e.stream) ?? []), e]);

    for (const [stream, [revision, position]] of acked) {
      const stored = byStream.get(stream) ?? [];
      // Every acknowledged append is there, at the position it was acknowledged with.
      expect(stored.find((e) => e.revision === revision)?.position).toBe(position);
      // Appends are atomic: 3 events each, never a part of one.
      expect(stored.length % 3).toBe(0);
    }
    expect(byStream.get("$seals")?.length ?? 0).toBeGreaterThan(0);

    const verify = await runSluice(["verify", "--config", paths.configFile]);
    expect(verify.stdout).toMatch(/^ledger intact: \d+ events checked in 33 streams, [1-9]\d* seals/);
    expect(verify.code).toBe(0);
  });
});
