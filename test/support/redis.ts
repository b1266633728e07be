import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LOOPBACK, waitForPort, withFreePort } from "./ports.ts";
import { launchServer, spawnServer } from "./process.ts";
import { makeTempDir } from "./tempdir.ts";

export interface RedisServer {
  host: string;
  port: number;
  url: string;
  /** Stops the server and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** A throwaway Redis on 127.0.0.1 with persistence off (no RDB snapshots, no AOF). */
export function startRedis(): Promise<RedisServer> {
  return withFreePort(startOn);
}

async function startOn(port: number): Promise<RedisServer> {
  const dir = makeTempDir("redis");
  const logFile = join(dir.path, "redis.log");
  const conf = [
    `port ${port}`,
    `bind ${LOOPBACK}`,
    'save ""', // no RDB snapshots
    "appendonly no",
    `dir ${dir.path}`,
    "daemonize no",
    'logfile ""', // stdout, which goes to redis.log
    "",
  ];
  writeFileSync(join(dir.path, "redis.conf"), conf.join("\n"));
  const { stop } = await launchServer("Redis", dir, logFile, async (track) => {
    const redis = track(
      spawnServer("Redis", "redis-server", [join(dir.path, "redis.conf")], { logFile, cwd: dir.path }),
    );
    await waitForPort(port, { check: redis.assertRunning });
  });
  return { host: LOOPBACK, port, url: `redis://${LOOPBACK}:${port}`, stop };
}
