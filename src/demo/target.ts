import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { DEMO_DATA } from "./data.ts";

export interface DemoTarget {
  host: string;
  port: number;
  /** How the gateway logs in (PGlite accepts any password). */
  url: string;
  close(): Promise<void>;
}

/**
 * The demo's PostgreSQL: PGlite (PostgreSQL compiled to WebAssembly, in memory) served on a
 * loopback port, loaded with sample customers, orders and secrets — no server to install.
 */
export async function startDemoTarget(port = 0): Promise<DemoTarget> {
  const db = await PGlite.create();
  await db.exec(DEMO_DATA);
  const host = "127.0.0.1";
  // The gateway keeps a catalog connection beside each session: allow a few at once.
  const server = new PGLiteSocketServer({ db, host, port: port || (await freePort()), maxConnections: 16 });
  await server.start();
  const [, actualPort] = server.getServerConn().split(":");
  return {
    host,
    port: Number(actualPort),
    url: `postgresql://postgres:demo@${host}:${actualPort}/postgres?sslmode=disable`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const found = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(found));
    });
  });
}
