import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.ts";
import { resolveSecret } from "../../src/config/secret-ref.ts";

function dirWith(yaml?: string) {
  const dir = mkdtempSync(join(tmpdir(), "sluice-config-"));
  if (yaml !== undefined) writeFileSync(join(dir, "sluice.yaml"), yaml);
  return dir;
}

describe("config", () => {
  it("runs on embedded defaults with no file", () => {
    const dir = dirWith();
    const config = loadConfig({ cwd: dir, env: {} });
    expect(config.source).toBe("(defaults)");
    expect(config.store).toEqual({ kind: "sqlite", path: join(dir, "data", "sluice.db") });
    expect(config.ledger.signingKeyFile).toBe(join(dir, "data", "keys", "ledger-ed25519.jwk"));
    expect(config.api).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(config.ledger.sealIntervalSeconds).toBe(60);
  });

  it("reads ./sluice.yaml and lets the environment override it", () => {
    const dir = dirWith(
      "dataDir: /var/lib/sluice\napi:\n  port: 9000\nstore:\n  kind: postgres\n  url: { env: PG_URL }\n",
    );
    const config = loadConfig({ cwd: dir, env: { SLUICE_API_PORT: "9100", SLUICE_LOG_LEVEL: "warn" } });
    expect(config.dataDir).toBe("/var/lib/sluice");
    expect(config.api.port).toBe(9100);
    expect(config.log.level).toBe("warn");
    expect(config.store).toEqual({ kind: "postgres", url: { env: "PG_URL" }, schema: "sluice", poolSize: 4 });
  });

  it("names the file, line and key of an invalid value", () => {
    const dir = dirWith("log:\n  level: info\nstore:\n  kind: mongo\n");
    expect(() => loadConfig({ cwd: dir, env: {} })).toThrow(/sluice\.yaml:4:9 store\.kind: /);
  });

  it("refuses unknown keys and inline secrets", () => {
    const dir = dirWith("api:\n  port: 1\n  colour: blue\n");
    expect(() => loadConfig({ cwd: dir, env: {} })).toThrow(
      /sluice\.yaml:3:11 api: Unrecognized key: "colour"/,
    );
    const inline = dirWith("store:\n  kind: postgres\n  url: postgres://u:secret@h/db\n");
    expect(() => loadConfig({ cwd: inline, env: {} })).toThrow(/sluice\.yaml:3:8 store\.url/);
  });

  it("reports YAML syntax errors with their position", () => {
    const dir = dirWith("api:\n  port: [1, 2\n");
    expect(() => loadConfig({ cwd: dir, env: {} })).toThrow(/sluice\.yaml:\d+:\d+: /);
  });

  it("refuses a named config file that does not exist", () => {
    expect(() => loadConfig({ cwd: dirWith(), env: { SLUICE_CONFIG: "missing.yaml" } })).toThrow(
      /config file missing\.yaml does not exist/,
    );
  });

  it("resolves secrets from the environment or a file, and says which is missing", () => {
    const dir = dirWith();
    writeFileSync(join(dir, "pw"), "s3cret\n");
    expect(resolveSecret({ env: "X" }, "store.url", { X: "v" })).toBe("v");
    expect(resolveSecret({ file: join(dir, "pw") }, "store.url")).toBe("s3cret");
    expect(() => resolveSecret({ env: "NOPE" }, "store.url", {})).toThrow(
      "store.url: environment variable NOPE is not set",
    );
  });
});
