import { type ChildProcess, exec, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { collect, until } from "../support/events.ts";
import { makeTempDir } from "../support/tempdir.ts";

const shell = promisify(exec);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The newcomer's first minutes: `npm start` as on a fresh clone, then the commands the demo
 * prints, pasted as printed, each showing what it promises.
 */
describe("npm start (sluice demo)", () => {
  const dir = makeTempDir("demo");
  let child: ChildProcess;
  let output = "";
  let exports = "";
  const commands: string[] = [];

  beforeAll(async () => {
    child = spawn("npm", ["start", "--", "--data-dir", dir.path, "--port", "0"], {
      cwd: ROOT,
      env: { ...process.env, SLUICE_API_PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child.stdout?.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr?.on("data", (chunk) => {
      output += chunk;
    });
    await until(() => output.includes("5. The audit trail"), 60_000);
    exports = output
      .split("\n")
      .filter((line) => line.startsWith("export "))
      .join("\n");
    for (const line of output.split("\n")) {
      const command = line.trim();
      if (/^(psql |npx sluice|curl )/.test(command)) commands.push(command);
    }
  }, 90_000);
  afterAll(async () => {
    if (child?.pid) process.kill(-child.pid, "SIGINT");
    await new Promise((resolve) => child?.once("close", resolve));
    dir.remove();
  });

  /** Runs a printed command in a shell with the printed exports, as a user pasting them would. */
  async function paste(command: string): Promise<{ stdout: string; stderr: string; code: number }> {
    try {
      const { stdout, stderr } = await shell(`${exports}\n${command}`, { cwd: ROOT, timeout: 60_000 });
      return { stdout, stderr, code: 0 };
    } catch (error) {
      const failed = error as { stdout: string; stderr: string; code: number };
      return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
    }
  }
  const printed = (fragment: string) => {
    const found = commands.find((c) => c.includes(fragment));
    if (!found) throw new Error(`the demo did not print a command with ${fragment}:\n${output}`);
    return found;
  };

  it("prints the agent's credential and the commands to try", () => {
    expect(exports).toMatch(/export PGPASSWORD='eyJ/);
    expect(commands.length).toBeGreaterThanOrEqual(8);
  });

  it("masks personal data and secrets in what the agent reads", async () => {
    const customers = await paste(printed('FROM customers"'));
    expect(customers.code).toBe(0);
    expect(customers.stdout).toContain("Ada Lovelace");
    expect(customers.stdout).not.toMatch(/ada@analytical|078-05-1120|sk_live_/);
    expect(customers.stdout).toContain("«redacted»");
    const derived = await paste(printed("upper(email)"));
    expect(derived.stdout).not.toMatch(/ADA@ANALYTICAL|4111111111111111/);
    const notes = await paste(printed("support_notes"));
    expect(notes.stdout).not.toMatch(/AKIAIOSFODNN7EXAMPLE|hunter2/);
    expect(notes.stdout).toContain("«redacted:aws_access_key_id»");
  });

  it("denies the destructive statement, naming the rule", async () => {
    const dropped = await paste(printed("DROP TABLE"));
    expect(dropped.code).not.toBe(0);
    expect(dropped.stderr).toContain("Sluice denied this statement (rule no-destructive-sql)");
  });

  it("holds the order change until the demo approver approves it", async () => {
    const held = paste(printed("UPDATE orders"));
    let id = "";
    await until(async () => {
      const listed = await paste(printed("approvals list"));
      id = /^([0-9a-f-]{36})/m.exec(listed.stdout)?.[1] ?? "";
      return id !== "";
    }, 30_000);
    const approved = await paste(printed("approvals approve").replace("<approval-id>", id));
    expect(approved.stdout).toContain("now granted");
    const result = await held;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`approval ${id} is pending`);
    expect(result.stdout).toContain("UPDATE 1");
  });

  it("shows the auditor each session's timeline through GraphQL", async () => {
    const answer = await paste(printed("curl -s"));
    expect(answer.code).toBe(0);
    const sessions = JSON.parse(answer.stdout).data.sessions.edges.map(
      (e: { node: { deniedCount: number; timeline: { edges: { node: { type: string } }[] } } }) => e.node,
    );
    expect(sessions.some((s: { deniedCount: number }) => s.deniedCount === 1)).toBe(true);
    const types = sessions.flatMap((s: { timeline: { edges: { node: { type: string } }[] } }) =>
      s.timeline.edges.map((e) => e.node.type),
    );
    expect(types).toEqual(expect.arrayContaining(["SessionStarted", "CommandDecided", "CommandCompleted"]));
  });

  it("keeps an intact, verifiable audit trail, and an export that verifies on its own", async () => {
    const verified = await paste(printed("sluice verify"));
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^ledger intact/);
    const exported = await paste(printed("sluice export"));
    expect(exported.code).toBe(0);
    expect(exported.stdout).toMatch(/^exported \d+ events/);
    const checked = await paste(printed("verify --export"));
    expect(checked.code).toBe(0);
    expect(checked.stdout).toMatch(/^export intact: jsonl export/);
  });

  it("never writes a token, a password or the signing key to the event log, the export or the logs", async () => {
    const tokens = [...exports.matchAll(/^export \w+='([^']+)'$/gm)]
      .map((m) => m[1] as string)
      .filter((v) => v.startsWith("eyJ"));
    expect(tokens).toHaveLength(3);
    const key = JSON.parse(readFileSync(join(dir.path, "keys", "ledger-ed25519.jwk"), "utf8")) as {
      d: string;
    };
    const secrets = [...tokens, key.d, "hunter2", "AKIAIOSFODNN7EXAMPLE", "078-05-1120"];
    const store = await SqliteEventStore.open({ path: join(dir.path, "sluice.db") });
    const log = JSON.stringify(await collect(store.readAllRaw()), (_, v) =>
      typeof v === "bigint" ? String(v) : v,
    );
    await store.close();
    const exported = readdirSync(join(dir.path, "export"))
      .map((f) => readFileSync(join(dir.path, "export", f), "utf8"))
      .join("\n");
    for (const secret of secrets) {
      expect(log.includes(secret), "event log").toBe(false);
      expect(exported.includes(secret), "export").toBe(false);
      // The gateway's own output (JSON logs) holds none either; only the guide prints the tokens, once.
      expect(output.split(secret).length - 1, "gateway output").toBeLessThanOrEqual(
        tokens.includes(secret) ? 1 : 0,
      );
    }
  });
});
