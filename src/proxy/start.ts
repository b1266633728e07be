import type { SluiceConfig } from "../config/schema.ts";
import type { ProxyContext, RunningProxy } from "./context.ts";
import { startHttpProxy } from "./http/server.ts";
import { startPostgresProxy } from "./postgres/server.ts";
import { startSshProxy } from "./ssh/server.ts";

/** Starts every enabled proxy port; if one cannot listen, the ones already started are closed. */
export async function startProxies(
  config: SluiceConfig["proxies"],
  context: ProxyContext,
): Promise<RunningProxy[]> {
  const starters: Array<() => Promise<RunningProxy>> = [];
  if (config.postgres.enabled) starters.push(() => startPostgresProxy(config.postgres, context));
  if (config.ssh.enabled) starters.push(() => startSshProxy(config.ssh, context));
  if (config.http.enabled) starters.push(() => startHttpProxy(config.http, context));
  const running: RunningProxy[] = [];
  try {
    for (const start of starters) running.push(await start());
  } catch (error) {
    await Promise.allSettled(running.map((proxy) => proxy.close()));
    throw error;
  }
  for (const proxy of running)
    context.log.info({ protocol: proxy.protocol, address: `${proxy.host}:${proxy.port}` }, "proxy listening");
  return running;
}
