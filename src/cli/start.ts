import { startGateway } from "../app.ts";
import { loadConfig } from "../config/load.ts";

/** `sluice start`: runs the gateway until SIGINT/SIGTERM, then shuts down gracefully. */
export async function startCommand(options: { config?: string }): Promise<void> {
  const config = loadConfig({ file: options.config });
  const gateway = await startGateway(config);
  gateway.log.info({ config: config.source, health: `${gateway.apiUrl}/healthz` }, "ready");
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      gateway.log.warn({ signal }, "second signal: exiting without waiting");
      process.exit(130);
    }
    gateway.log.info({ signal }, "shutting down: flushing pending appends");
    const timer = setTimeout(() => {
      gateway.log.error("shutdown timed out");
      process.exit(1);
    }, config.shutdownTimeoutSeconds * 1000);
    timer.unref();
    gateway.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        gateway.log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}
