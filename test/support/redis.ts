import { join } from "node:path";
import { LOOPBACK, waitForPort, withFreePort } from "./ports.ts";
import { spawnServer, startupError } from "./process.ts";
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
  const args = [
    "--port",
    String(port),
    "--bind",
    LOOPBACK,
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir.path,
    "--daemonize",
    "no",
    "--logfile",
    "",
  ];
  const server = spawnServer("Redis", "redis-server", args, { logFile, cwd: dir.path });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= server.stop("SIGTERM").then(() => dir.remove());
    return stopping;
  };
  try {
    await waitForPort(port, { check: server.assertRunning });
  } catch (error) {
    const failure = startupError("Redis", error, logFile); // read the log before stop() removes it
    await stop();
    throw failure;
  }
  return { host: LOOPBACK, port, url: `redis://${LOOPBACK}:${port}`, stop };
}
