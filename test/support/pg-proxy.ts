import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pg from "pg";
import type { RunningProxy } from "../../src/proxy/context.ts";
import { type PostgresProxyConfig, postgresProxyConfig } from "../../src/proxy/postgres/config.ts";
import { startPostgresProxy } from "../../src/proxy/postgres/server.ts";
import { startTestGate, type TestGate } from "./gate.ts";
import { type PostgresOptions, type PostgresServer, startPostgres } from "./postgres.ts";

const exec = promisify(execFile);
let fixtures = 0;

export interface PgProxyFixture {
  db: PostgresServer;
  gate: TestGate;
  proxy: RunningProxy;
  /** A token for the target `app` (read-write by default). */
  token: string;
  /** A node-postgres client through Sluice, connected. */
  connect(options?: Partial<pg.ClientConfig>): Promise<pg.Client>;
  /** libpq connection string through Sluice. */
  conninfo(sslmode?: "disable" | "require"): string;
  /** Runs psql through Sluice; resolves with its output even when it fails. */
  psql(args: string[], input?: string): Promise<{ stdout: string; stderr: string; code: number }>;
  /** Runs SQL directly on the upstream as its owner. */
  admin(sql: string): Promise<pg.QueryResult>;
  close(): Promise<void>;
}

/**
 * A real PostgreSQL seeded with `seed`, a gate with `policy` (given the server and the name of
 * the environment variable holding its URL, for the target's credential), and the PostgreSQL
 * proxy in front of it; the agent's token is for target `app`.
 */
export async function startPgProxyFixture(
  policy: (db: PostgresServer, credentialEnv: string) => string,
  seed: string,
  config: Partial<PostgresProxyConfig> = {},
  server: PostgresOptions = {},
): Promise<PgProxyFixture> {
  const db = await startPostgres(server);
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      return await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(seed);
  // One variable per fixture: secrets are resolved at use, and fixtures may run side by side.
  const credentialEnv = `SLUICE_TEST_PG_URL_${++fixtures}`;
  process.env[credentialEnv] = db.url;
  const gate = await startTestGate(policy(db, credentialEnv));
  const context = gate.context();
  const proxy = await startPostgresProxy(
    postgresProxyConfig.parse({ port: 0, allowPasswordWithoutTls: true, ...config }),
    context,
  );
  const { token } = await gate.credential({ target: "app", access: "read-write" });
  const conninfo = (sslmode: "disable" | "require" = "require") =>
    `host=127.0.0.1 port=${proxy.port} user=agent dbname=app sslmode=${sslmode}`;
  return {
    db,
    gate,
    proxy,
    token,
    conninfo,
    admin,
    async connect(options = {}) {
      const client = new pg.Client({
        host: "127.0.0.1",
        port: proxy.port,
        user: "agent",
        password: token,
        database: "app",
        ...options,
      });
      await client.connect();
      return client;
    },
    async psql(args, input) {
      const child = exec("psql", [conninfo(), "-X", "-v", "ON_ERROR_STOP=1", ...args], {
        env: { ...process.env, PGPASSWORD: token, PGCONNECT_TIMEOUT: "10" },
      });
      if (input !== undefined) child.child.stdin?.end(input);
      try {
        const { stdout, stderr } = await child;
        return { stdout, stderr, code: 0 };
      } catch (error) {
        const failed = error as { stdout: string; stderr: string; code: number };
        return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
      }
    },
    async close() {
      await proxy.close();
      await gate.close();
      await db.stop();
    },
  };
}
