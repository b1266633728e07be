import { availableParallelism } from "node:os";
import ssh2 from "ssh2";
import type { ProxyContext, RunningProxy } from "../context.ts";
import type { SshProxyConfig } from "./config.ts";
import { AgentConnection } from "./connection.ts";
import { loadOrCreateHostKey } from "./host-key.ts";
import { MaskPool } from "./mask-pool.ts";

/**
 * The SSH proxy port: an ssh2 server facing agents. Each connection signs in, gets a gate
 * session and its own upstream connection; close() stops accepting, ends open connections
 * and resolves once each has recorded SessionEnded.
 */
export async function startSshProxy(config: SshProxyConfig, context: ProxyContext): Promise<RunningProxy> {
  const hostKey = loadOrCreateHostKey(config.hostKeyFile, context.dataDir);
  const open = new Set<AgentConnection>();
  const log = context.log.child({ proxy: "ssh" });
  const masks = new MaskPool(
    config.maskWorkers === "auto" ? Math.max(1, availableParallelism() - 1) : config.maskWorkers,
  );
  const server = new ssh2.Server({ hostKeys: [hostKey], ident: "Sluice" }, (conn, info) => {
    const connection = new AgentConnection(conn, info, {
      gate: context.gate,
      policy: context.policy,
      config,
      log,
      masks,
    });
    open.add(connection);
    void connection.closed.finally(() => open.delete(connection));
  });
  server.maxConnections = config.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.removeListener("error", reject);
      resolve();
    });
  });
  server.on("error", (error: Error) => log.error({ err: error.message }, "ssh proxy error"));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  let closing: Promise<void> | undefined;
  return {
    protocol: "ssh",
    host: config.host,
    port,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        const connections = [...open];
        for (const connection of connections) connection.end();
        await Promise.allSettled(connections.map((c) => c.closed));
        await stopped;
        await masks.close();
      })();
      return closing;
    },
  };
}
