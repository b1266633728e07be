import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { runSluice } from "../support/cli.ts";
import { collect } from "../support/events.ts";
import { makeDataDir } from "../support/ledger.ts";
import { type RunningOidcProvider, startOidcProvider } from "../support/oidc-provider.ts";
import { type PostgresServer, startPostgres } from "../support/postgres.ts";

const EXAMPLE = new URL("../../examples/policy.yaml", import.meta.url).pathname;

describe("sluice credential issue / revoke", () => {
  const paths = makeDataDir();
  let provider: RunningOidcProvider;
  let postgres: PostgresServer;
  let agentToken: string;
  let opsToken: string;
  const outputs: string[] = [];
  const sluice = async (...args: string[]) => {
    const result = await runSluice([...args, "--config", paths.configFile], {
      env: { ORDERS_DB_URL: postgres.url },
    });
    outputs.push(result.stdout, result.stderr);
    return result;
  };

  /** `sluice credential issue` for orders-db, read-only, task reconcile-7, as the agent, unless overridden. */
  const issue = (over: { access?: string; ttl?: string; task?: string; token?: string } = {}) =>
    sluice(
      "credential",
      "issue",
      "--target",
      "orders-db",
      "--access",
      over.access ?? "read-only",
      "--task",
      over.task ?? "reconcile-7",
      "--ttl",
      over.ttl ?? "10m",
      "--token",
      over.token ?? agentToken,
    );

  beforeAll(async () => {
    provider = await startOidcProvider({ clientIds: ["agent-42", "ops-alice"] });
    // orders-db asks for ephemeral roles: the gateway's own account makes one per credential.
    postgres = await startPostgres();
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query("CREATE ROLE orders_readonly NOLOGIN");
    await admin.end();
    writeFileSync(
      paths.configFile,
      `dataDir: ${join(paths.dir, "data")}\nlog: { level: info }\npublicHost: gw.internal\nidentity:\n  oidc:\n    issuer: ${provider.issuer}\n    audience: ${provider.audience}\n`,
    );
    agentToken = await provider.mintToken({ clientId: "agent-42", claims: { groups: ["agents"] } });
    opsToken = await provider.mintToken({ clientId: "ops-alice", claims: { groups: ["dba"] } });
    expect((await sluice("policy", "apply", EXAMPLE)).code).toBe(0);
  });
  afterAll(async () => {
    await provider?.stop();
    await postgres?.stop();
    rmSync(paths.dir, { recursive: true, force: true });
  });

  it("issues within the caller's grant, prints a ready psql line, and revokes", async () => {
    const issued = await sluice(
      "credential",
      "issue",
      "--target",
      "orders-db",
      "--access",
      "read-only",
      "--task",
      "reconcile-7",
      "--intent",
      "reconcile order 7",
      "--ttl",
      "10m",
      "--token",
      agentToken,
    );
    expect(issued.stderr).toBe("");
    expect(issued.code).toBe(0);
    const id = /^credential (\S+)$/m.exec(issued.stdout)?.[1] as string;
    const token = /^token {5}(\S+)$/m.exec(issued.stdout)?.[1] as string;
    expect(issued.stdout).toContain(
      `PGPASSWORD='${token}' psql "host=gw.internal port=15432 user=agent-42 dbname=orders-db sslmode=require"`,
    );

    const tooMuch = await issue({ access: "read-write" });
    expect(tooMuch.code).toBe(2);
    expect(tooMuch.stderr).toBe("sluice: no grant gives agent-42 read-write access to orders-db\n");
    const tooLong = await issue({ ttl: "2h" });
    expect(tooLong.stderr).toBe("sluice: a read-only credential for orders-db may last at most 900s\n");
    const forged = await issue({ task: "x", token: `${agentToken.slice(0, -4)}AAAA` });
    expect(forged.code).toBe(2);
    expect(forged.stderr).toMatch(/^sluice: .*signature/);

    const revoked = await sluice("credential", "revoke", id, "--reason", "task done", "--token", opsToken);
    expect(revoked.stdout).toBe(`credential ${id} revoked\n`);

    const store = await SqliteEventStore.open({ path: paths.dbPath });
    const events = await collect(store.readStream(`credential-${id}`));
    await store.close();
    expect(events.map((e) => e.type)).toEqual([
      "CredentialIssued",
      "UpstreamRoleCreated",
      "CredentialRevoked",
      "UpstreamRoleDropped",
    ]);
    expect(events[2]).toMatchObject({
      data: { by: { subject: "ops-alice", groups: ["dba"] }, reason: "task done" },
    });

    // No token, key or secret in the event log or in anything logged (the credential itself is the one intended output).
    const log = readFileSync(paths.dbPath).toString("latin1");
    const privateKey = JSON.parse(readFileSync(paths.keyFile, "utf8")).d as string;
    const logged = outputs.join("\n").replace(issued.stdout, "");
    for (const secret of [token, agentToken, opsToken, privateKey]) {
      expect(log).not.toContain(secret);
      expect(logged).not.toContain(secret);
    }
  });
});
