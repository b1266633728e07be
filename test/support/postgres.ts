import { randomBytes } from "node:crypto";
import { appendFileSync, chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { LOOPBACK, withFreePort } from "./ports.ts";
import { lookupUser, type OsUser, run, signal, startupError, waitGone } from "./process.ts";
import { trackProcess } from "./reaper.ts";
import { makeTempDir, type TempDir } from "./tempdir.ts";

export const PG_BIN = "/usr/lib/postgresql/15/bin";

export interface PostgresOptions {
  /** Name of the superuser created by initdb (default "sluice"). */
  user?: string;
  /** Database to create and to use in `url` (default "postgres"). */
  database?: string;
  /** Extra postgresql.conf lines, appended last so they win, e.g. ["max_connections = 200"]. */
  config?: string[];
  /** pg_hba.conf lines placed before the defaults (first match wins), e.g. ["host all md5user 127.0.0.1/32 md5"]. */
  hba?: string[];
  /** Serve TLS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
}

export interface PostgresServer {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  url: string;
  dataDir: string;
  /** Directory of the server's unix socket (password auth applies there too). */
  socketDir: string;
  connectionString(database?: string): string;
  /** Simulates an outage: immediate shutdown (as a crash would), keeping the data dir. */
  crash(): Promise<void>;
  /** Starts the server again after `crash()`, on the same port with the same data. */
  restart(): Promise<void>;
  /** Fast shutdown, then the temp dir is removed. Idempotent. */
  stop(): Promise<void>;
}

/** A throwaway PostgreSQL 15 cluster on 127.0.0.1, scram-sha-256 only, fsync on. */
export function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const owner = lookupUser("postgres");
  if (!owner) throw new Error("no OS user 'postgres': run `node test/support/prepare.mjs` first");
  return withFreePort((port) => startOn(port, owner, options));
}

async function startOn(port: number, owner: OsUser, options: PostgresOptions): Promise<PostgresServer> {
  const user = options.user ?? "sluice";
  const database = options.database ?? "postgres";
  const password = randomBytes(16).toString("hex");
  const dir = makeTempDir("pg", owner);
  const dataDir = join(dir.path, "data");
  const socketDir = join(dir.path, "sock");
  const logFile = join(dir.path, "postgres.log");
  const asOwner = { user: owner, cwd: dir.path };
  let postmaster: number | undefined;
  try {
    const pwFile = join(dir.path, "pwfile");
    writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
    chownSync(pwFile, owner.uid, owner.gid);
    await run(
      `${PG_BIN}/initdb`,
      [
        "-D",
        dataDir,
        "-U",
        user,
        `--pwfile=${pwFile}`,
        "--auth=scram-sha-256",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
      ],
      asOwner,
    );
    mkdirSync(socketDir, { mode: 0o700 });
    chownSync(socketDir, owner.uid, owner.gid);
    writeFileSync(
      join(dataDir, "pg_hba.conf"),
      [
        ...(options.hba ?? []),
        "local all all scram-sha-256",
        "host all all 127.0.0.1/32 scram-sha-256",
        "",
      ].join("\n"),
    );
    if (options.tls) {
      for (const [file, pem] of [
        ["server.crt", options.tls.cert],
        ["server.key", options.tls.key],
      ] as const) {
        writeFileSync(join(dataDir, file), pem, { mode: 0o600 });
        chownSync(join(dataDir, file), owner.uid, owner.gid);
      }
    }
    const conf = [
      "",
      "# sluice test server",
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      `unix_socket_directories = '${socketDir}'`,
      "password_encryption = 'scram-sha-256'",
      "fsync = on",
      "synchronous_commit = on",
      ...(options.tls ? ["ssl = on"] : []),
      ...(options.config ?? []),
      "",
    ];
    appendFileSync(join(dataDir, "postgresql.conf"), conf.join("\n"));
    await run(`${PG_BIN}/pg_ctl`, ["-D", dataDir, "-l", logFile, "-w", "-t", "60", "start"], asOwner);
    postmaster = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  } catch (error) {
    const failure = startupError("PostgreSQL", error, logFile); // read the log before the dir goes
    await shutdown(dir, dataDir, owner, postmaster);
    throw failure;
  }
  // Immediate shutdown (SIGQUIT) if the test process dies without stopping us.
  let untrack = trackProcess(postmaster, "SIGQUIT");
  const pgCtl = (args: string[]) =>
    run(`${PG_BIN}/pg_ctl`, ["-D", dataDir, "-w", "-t", "60", ...args], asOwner);
  const connectionString = (db = database) =>
    `postgresql://${encodeURIComponent(user)}:${password}@${LOOPBACK}:${port}/${encodeURIComponent(db)}`;
  let stopping: Promise<void> | undefined;
  const server: PostgresServer = {
    host: LOOPBACK,
    port,
    user,
    password,
    database,
    url: connectionString(),
    dataDir,
    socketDir,
    connectionString,
    async crash() {
      await pgCtl(["-m", "immediate", "stop"]);
      untrack();
    },
    async restart() {
      await pgCtl(["-l", logFile, "start"]);
      postmaster = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
      untrack = trackProcess(postmaster, "SIGQUIT");
    },
    stop() {
      stopping ??= shutdown(dir, dataDir, owner, postmaster).then(() => untrack());
      return stopping;
    },
  };
  if (database !== "postgres") {
    await createDatabase(connectionString("postgres"), database).catch(async (error) => {
      await server.stop();
      throw error;
    });
  }
  return server;
}

async function createDatabase(url: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
}

/** pg_ctl stop -m fast; if that fails, SIGQUIT the postmaster. Then remove the temp dir. */
async function shutdown(dir: TempDir, dataDir: string, owner: OsUser, postmaster?: number): Promise<void> {
  try {
    await run(`${PG_BIN}/pg_ctl`, ["-D", dataDir, "-m", "fast", "-w", "-t", "30", "stop"], {
      user: owner,
      cwd: dir.path,
    });
  } catch {
    if (postmaster) signal(postmaster, "SIGQUIT");
  }
  if (postmaster && !(await waitGone([postmaster], 10_000))) signal(postmaster, "SIGKILL");
  dir.remove();
}
