import { execFile } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { startPgBouncer } from "./pgbouncer.ts";
import { isPortOpen } from "./ports.ts";
import { startPostgres } from "./postgres.ts";
import { startRedis } from "./redis.ts";
import { type SshdServer, startSshd } from "./sshd.ts";

const execFileAsync = promisify(execFile);

async function query(connectionString: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Sends one RESP command over a raw socket and returns the raw reply once it ends in CRLF. */
function redisCommand(port: number, ...args: string[]): Promise<string> {
  const request = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" }, () => socket.write(request));
    let reply = "";
    socket.setTimeout(5_000, () => socket.destroy(new Error("no reply from Redis")));
    socket.on("data", (chunk) => {
      reply += chunk;
      if (reply.endsWith("\r\n")) {
        socket.end();
        resolve(reply);
      }
    });
    socket.on("error", reject);
  });
}

function ssh(server: SshdServer, extra: string[], env: NodeJS.ProcessEnv = {}) {
  const args = [
    ...["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${server.knownHostsPath}`],
    ...["-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-p", String(server.port)],
    ...extra,
    `${server.user}@${server.host}`,
    "echo ok",
  ];
  return execFileAsync("ssh", args, { env: { ...process.env, ...env }, timeout: 30_000 });
}

describe("test services", () => {
  it("PostgreSQL accepts its superuser's password only, runs SELECT 1, and stops cleanly", async () => {
    const server = await startPostgres({ database: "app", config: ["max_connections = 50"] });
    try {
      const rows = await query(server.url, "SELECT 1 AS one, current_database() AS db");
      expect(rows).toEqual([{ one: 1, db: "app" }]);
      const settings = await query(
        server.url,
        "SELECT current_setting('fsync') AS f, current_setting('max_connections') AS m",
      );
      expect(settings).toEqual([{ f: "on", m: "50" }]);
      const wrong = server.url.replace(server.password, "not-the-password");
      await expect(query(wrong, "SELECT 1")).rejects.toThrow(/password authentication failed/);
      const socketNoPassword = `postgresql://${server.user}@/${server.database}?host=${server.socketDir}&port=${server.port}`;
      await expect(query(socketNoPassword, "SELECT 1")).rejects.toThrow(/password/);
    } finally {
      await server.stop();
    }
    expect(await isPortOpen(server.port)).toBe(false);
    expect(existsSync(server.dataDir)).toBe(false);
    await server.stop(); // idempotent
  });

  it("Redis answers PING over RESP and stops cleanly", async () => {
    const server = await startRedis();
    try {
      expect(await redisCommand(server.port, "PING")).toBe("+PONG\r\n");
      expect(await redisCommand(server.port, "CONFIG", "GET", "save")).toBe("*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    } finally {
      await server.stop();
    }
    expect(await isPortOpen(server.port)).toBe(false);
    await server.stop();
  });

  it("sshd lets the test user in with the generated key, checked against known_hosts", async () => {
    const server = await startSshd();
    try {
      expect(server.knownHostsLine).toBe(`[127.0.0.1]:${server.port} ${server.hostKeyPublic}`);
      const batch = ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", server.clientKeyPath];
      const { stdout } = await ssh(server, batch);
      expect(stdout).toBe("ok\n");
    } finally {
      await server.stop();
    }
    expect(await isPortOpen(server.port)).toBe(false);
    await server.stop();
  });

  it("sshd with a password accepts password authentication", async () => {
    const password = `pw-${Date.now()}`;
    const server = await startSshd({ user: "sluice-test-pw", password });
    const askpass = join(tmpdir(), `sluice-askpass-${process.pid}.sh`);
    writeFileSync(askpass, `#!/bin/sh\necho '${password}'\n`, { mode: 0o700 });
    try {
      const passwordOnly = ["-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no"];
      const { stdout } = await ssh(server, passwordOnly, {
        SSH_ASKPASS: askpass,
        SSH_ASKPASS_REQUIRE: "force",
      });
      expect(stdout).toBe("ok\n");
    } finally {
      rmSync(askpass, { force: true });
      await server.stop();
    }
    expect(await isPortOpen(server.port)).toBe(false);
  });

  it("PgBouncer forwards queries to PostgreSQL in transaction and session pool modes", async () => {
    const postgres = await startPostgres();
    try {
      const transaction = await startPgBouncer(postgres);
      const session = await startPgBouncer(postgres, { poolMode: "session", authType: "md5" });
      try {
        expect(await query(transaction.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
        expect(await query(session.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
        const modes = await query(session.connectionString("pgbouncer"), "SHOW CONFIG");
        expect(modes.find((row) => row.key === "pool_mode")?.value).toBe("session");
      } finally {
        await transaction.stop();
        await session.stop();
      }
      expect(await isPortOpen(transaction.port)).toBe(false);
      expect(await isPortOpen(session.port)).toBe(false);
      expect(await query(postgres.url, "SELECT 2 AS two")).toEqual([{ two: 2 }]);
    } finally {
      await postgres.stop();
    }
    expect(await isPortOpen(postgres.port)).toBe(false);
  });
});
