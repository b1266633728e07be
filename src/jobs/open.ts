import type { Logger } from "pino";
import type { SluiceConfig } from "../config/schema.ts";
import { resolveSecret } from "../config/secret-ref.ts";
import type { Scheduler } from "./scheduler.ts";

/** BullMQ on Redis when `redis` is configured (several instances), in-process otherwise. */
export async function openScheduler(config: SluiceConfig, log: Logger): Promise<Scheduler> {
  if (config.redis) {
    const { BullmqScheduler } = await import("./bullmq.ts");
    return new BullmqScheduler({
      url: resolveSecret(config.redis.url, "redis.url"),
      queueName: config.redis.queue,
      log,
    });
  }
  const { InProcessScheduler } = await import("./in-process.ts");
  return new InProcessScheduler(log);
}
