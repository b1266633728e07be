import { execFile } from "node:child_process";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { passwordMessage, startupMessage } from "../../src/proxy/postgres/codec/client-messages.ts";
import { type PgProxyFixture, startPgProxyFixture } from "../support/pg-proxy.ts";
import { PG_BIN } from "../support/postgres.ts";

const run = promisify(execFile);

/** Real benchmark clients and hostile bytes: the proxy answers both like PostgreSQL and keeps serving. */
describe("PostgreSQL proxy: pgbench and malformed input", () => {
  let fx: PgProxyFixture;
  beforeAll(async () => {
    fx = await startPgProxyFixture(
      (db, env) => `
targets: [{ name: app, protocol: postgres, address: "127.0.0.1:${db.port}", credential: { env: ${env} } }]
access: [{ name: agents, who: { groups: [agents] }, targets: [app], level: read-write }]
`,
      "SELECT 1",
    );
    await run(join(PG_BIN, "pgbench"), ["-i", "-q", "-s", "1", fx.db.url]);
  });
  afterAll(async () => fx?.close());

  for (const mode of ["simple", "extended", "prepared"]) {
    it(`pgbench (TPC-B-like, 4 clients) in ${mode} mode completes every transaction`, async () => {
      const { stdout } = await run(
        join(PG_BIN, "pgbench"),
        ["-n", "-M", mode, "-c", "4", "-t", "50", fx.conninfo("disable")],
        { env: { ...process.env, PGPASSWORD: fx.token } },
      );
      expect(stdout).toContain("number of transactions actually processed: 200/200");
      expect(stdout).toContain("number of failed transactions: 0");
    });
  }

  /** Opens a raw connection; with `login`, signs in and waits for ReadyForQuery. */
  async function rawConnection(login: boolean): Promise<{ socket: Socket; closed: Promise<Buffer> }> {
    const socket = connect(fx.proxy.port, "127.0.0.1");
    const received: Buffer[] = [];
    const closed = new Promise<Buffer>((resolve) => {
      socket.on("data", (chunk) => received.push(chunk));
      socket.on("close", () => resolve(Buffer.concat(received)));
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    if (login) {
      socket.write(startupMessage({ user: "agent", database: "app" }));
      await until(received, (all) => all.includes(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])));
      socket.write(passwordMessage(fx.token));
      await until(received, (all) => all.includes(Buffer.from([0x5a, 0, 0, 0, 5])));
    }
    return { socket, closed };
  }

  async function until(received: Buffer[], done: (all: Buffer) => boolean): Promise<void> {
    for (let i = 0; i < 500 && !done(Buffer.concat(received)); i++)
      await new Promise((r) => setTimeout(r, 10));
  }

  /** A FrontendMessage-shaped frame with a random type byte, length and body. */
  const frame = fc
    .tuple(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: -8, max: 2 ** 31 - 1 }),
      fc.uint8Array({ maxLength: 64 }),
    )
    .map(([type, length, body]) => {
      const header = Buffer.alloc(5);
      header[0] = type;
      header.writeInt32BE(length, 1);
      return Buffer.concat([header, body]);
    });
  const garbage = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 256 }).map((b) => Buffer.from(b)),
    frame,
  );

  it("random bytes and frames before login get an error or a close, never a crash", async () => {
    await fc.assert(
      fc.asyncProperty(garbage, async (bytes) => {
        const { socket, closed } = await rawConnection(false);
        socket.end(bytes);
        const answer = await closed;
        // Either nothing, a one-byte TLS answer, an authentication request, or an ErrorResponse.
        expect(answer.length === 0 || [0x4e, 0x53, 0x52, 0x45].includes(answer[0] as number)).toBe(true);
      }),
      { numRuns: 60 },
    );
    const client = await fx.connect();
    expect((await client.query("SELECT 1 AS ok")).rows).toEqual([{ ok: 1 }]);
    await client.end();
  });

  it("malformed messages after login close that session with a FATAL error; other sessions keep working", async () => {
    const bystander = await fx.connect();
    await fc.assert(
      fc.asyncProperty(garbage, async (bytes) => {
        const { socket, closed } = await rawConnection(true);
        socket.write(bytes);
        // Oversized or truncated frames may wait for more input: the client then gives up and closes.
        setTimeout(() => socket.end(), 200);
        const answer = await closed;
        const afterLogin = answer.subarray(answer.lastIndexOf(Buffer.from([0x5a, 0, 0, 0, 5])) + 6);
        if (afterLogin.includes(Buffer.from("SFATAL")))
          expect(afterLogin.toString("latin1")).toMatch(/C08P01|C54000|C22021/);
        expect((await bystander.query("SELECT 2 AS ok")).rows).toEqual([{ ok: 2 }]);
      }),
      { numRuns: 40 },
    );
    await bystander.end();
  });
});
