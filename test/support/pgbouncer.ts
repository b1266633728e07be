import { chownSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LOOPBACK, waitForPort, withFreePort } from "./ports.ts";
import type { PostgresServer } from "./postgres.ts";
import { launchServer, lookupUser, type OsUser, spawnServer } from "./process.ts";
import { makeTempDir } from "./tempdir.ts";

export interface PgBouncerOptions {
  /** Default "transaction". */
  poolMode?: "session" | "transaction" | "statement";
  /** How clients authenticate to PgBouncer (default "scram-sha-256"). */
  authType?: "scram-sha-256" | "md5";
  /** Extra lines for the [pgbouncer] section, e.g. ["default_pool_size = 4"]. */
  config?: string[];
}

export interface PgBouncerServer {
  host: string;
  port: number;
  /** The same credentials as the PostgreSQL superuser behind it. */
  user: string;
  password: string;
  database: string;
  url: string;
  connectionString(database?: string): string;
  /** Immediate shutdown, then the temp dir is removed. Idempotent. */
  stop(): Promise<void>;
}

/** A throwaway PgBouncer on 127.0.0.1 in front of `pg`, every database routed to it. */
export function startPgBouncer(pg: PostgresServer, options: PgBouncerOptions = {}): Promise<PgBouncerServer> {
  // PgBouncer refuses to run as root; the postgres account is always there when PostgreSQL is.
  const owner = lookupUser("postgres");
  if (!owner) throw new Error("no OS user 'postgres': run `node test/support/prepare.mjs` first");
  return withFreePort((port) => startOn(port, pg, owner, options));
}

async function startOn(
  port: number,
  pg: PostgresServer,
  owner: OsUser,
  options: PgBouncerOptions,
): Promise<PgBouncerServer> {
  const dir = makeTempDir("pgbouncer", owner);
  const file = (name: string) => join(dir.path, name);
  const logFile = file("pgbouncer.log");
  const { stop } = await launchServer("PgBouncer", dir, logFile, async (track) => {
    writeOwned(file("userlist.txt"), `"${pg.user}" "${pg.password}"\n`, owner);
    writeOwned(file("pgbouncer.ini"), config(port, pg, file, options).join("\n"), owner);
    const args = [file("pgbouncer.ini")];
    const bouncer = track(
      spawnServer("PgBouncer", "/usr/sbin/pgbouncer", args, { logFile, user: owner, cwd: dir.path }),
    );
    await waitForPort(port, { check: bouncer.assertRunning });
  });
  const connectionString = (db = pg.database) =>
    `postgresql://${encodeURIComponent(pg.user)}:${pg.password}@${LOOPBACK}:${port}/${encodeURIComponent(db)}`;
  return {
    host: LOOPBACK,
    port,
    user: pg.user,
    password: pg.password,
    database: pg.database,
    url: connectionString(),
    connectionString,
    stop,
  };
}

function config(port: number, pg: PostgresServer, file: (name: string) => string, options: PgBouncerOptions) {
  return [
    "[databases]",
    `* = host=${pg.host} port=${pg.port}`,
    "",
    "[pgbouncer]",
    `listen_addr = ${LOOPBACK}`,
    `listen_port = ${port}`,
    "unix_socket_dir =", // empty: no socket in the shared /tmp
    `auth_type = ${options.authType ?? "scram-sha-256"}`,
    `auth_file = ${file("userlist.txt")}`,
    `pool_mode = ${options.poolMode ?? "transaction"}`,
    `admin_users = ${pg.user}`,
    `stats_users = ${pg.user}`,
    "max_client_conn = 500",
    "default_pool_size = 20",
    "ignore_startup_parameters = extra_float_digits,options",
    "server_tls_sslmode = disable",
    "logfile =", // empty: log to stderr, which goes to pgbouncer.log
    "pidfile =",
    ...(options.config ?? []),
    "",
  ];
}

function writeOwned(path: string, content: string, owner: OsUser): void {
  writeFileSync(path, content, { mode: 0o600 });
  chownSync(path, owner.uid, owner.gid);
}
