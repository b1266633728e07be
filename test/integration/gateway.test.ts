import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { startGateway } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load.ts";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { runSluice, SLUICE_BIN } from "../support/cli.ts";
import { collect, taskEvent } from "../support/events.ts";
import { makeDataDir } from "../support/ledger.ts";

// Every proxy on a free port: test files run side by side.
const PROXIES = "proxies:\n  postgres: { port: 0 }\n  ssh: { port: 0 }\n  http: { port: 0 }\n";

describe("gateway", () => {
  const paths = makeDataDir();
  afterAll(() => rmSync(paths.dir, { recursive: true, force: true }));

  it("serves health and readiness, and flushes pending appends when stopped", async () => {
    writeFileSync(paths.configFile, `dataDir: ${paths.dir}/data\nlog:\n  level: silent\n${PROXIES}`);
    const config = loadConfig({ file: paths.configFile, env: { SLUICE_API_PORT: "0" } });
    const gateway = await startGateway(config);
    expect(gateway.proxies.map((p) => p.protocol).sort()).toEqual(["http", "postgres", "ssh"]);
    expect(gateway.proxies.every((p) => p.port > 0)).toBe(true);
    const health = await fetch(`${gateway.apiUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await fetch(`${gateway.apiUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, checks: { store: true, policy: true } });

    const pending = Array.from({ length: 300 }, (_, i) =>
      gateway.store.append(`task-${i % 10}`, [taskEvent(i)]),
    );
    await gateway.stop();
    expect(await Promise.all(pending)).toHaveLength(300);
    await expect(fetch(`${gateway.apiUrl}/healthz`)).rejects.toThrow();

    const store = await SqliteEventStore.open({ path: paths.dbPath });
    expect(await collect(store.readAll())).toHaveLength(300);
    await store.close();
  });

  it("runs as `sluice start`, seals on its interval and shuts down cleanly on SIGTERM", async () => {
    writeFileSync(
      paths.configFile,
      `dataDir: ${paths.dir}/data\napi:\n  port: 0\nledger:\n  sealIntervalSeconds: 0.2\n${PROXIES}`,
    );
    const child = spawn(process.execPath, [SLUICE_BIN, "start", "--config", paths.configFile], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const apiUrl = await new Promise<string>((resolve, reject) => {
      child.on("exit", (code) => reject(new Error(`exited early (${code}): ${output}`)));
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk;
        const started = /"api":"(http:[^"]+)"/.exec(output);
        if (started) resolve(started[1] as string);
      });
    });
    expect((await fetch(`${apiUrl}/healthz`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(output).toContain("ledger sealed");
    expect(output).toContain("sluice gateway stopped");

    const verify = await runSluice(["verify", "--config", paths.configFile]);
    expect(verify.stdout).toMatch(
      /^ledger intact: 301 events checked in 11 streams, 1 seals, 1 events after the last seal/,
    );
    expect(verify.code).toBe(0);
  });

  it("refuses a broken config with one clear line and exit status 2", async () => {
    writeFileSync(paths.configFile, "store:\n  kind: sqlite\n  path: 42\n");
    const result = await runSluice(["start", "--config", paths.configFile]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^sluice: .*sluice\.yaml:3:9 store\.path: Invalid input: expected string, received number\n$/,
    );
  });
});
