import { connect, createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export const LOOPBACK = "127.0.0.1";

/** A TCP port that was free on 127.0.0.1 a moment ago (the kernel picks it; we close it again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("could not read the bound port"))));
    });
  });
}

/** True when something accepts TCP connections on host:port. */
export function isPortOpen(port: number, host = LOOPBACK, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export interface WaitOptions {
  host?: string;
  timeoutMs?: number;
  /** Called between attempts; throw from it to give up early (e.g. the server process died). */
  check?: () => void;
}

/** Polls until host:port accepts connections; rejects after timeoutMs. */
export async function waitForPort(port: number, options: WaitOptions = {}): Promise<void> {
  const { host = LOOPBACK, timeoutMs = 15_000, check } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    check?.();
    if (await isPortOpen(port, host, 500)) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await sleep(25);
  }
}

/** Reads from host:port until `pattern` shows up in what the server sent first (e.g. an SSH banner). */
export function readGreeting(
  port: number,
  pattern: RegExp,
  host = LOOPBACK,
  timeoutMs = 5_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host });
    let received = "";
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(
        new Error(`no greeting matching ${pattern} from ${host}:${port} (got ${JSON.stringify(received)})`),
      );
    });
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
      if (pattern.test(received)) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.once("error", reject);
  });
}

/**
 * Runs `start` with a fresh free port, again with another port when the first one was taken in the
 * meantime (another test process can grab it between freePort() and the server's bind()).
 */
export async function withFreePort<T>(start: (port: number) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (error) {
      const clash = /address already in use|could not bind/i.test(String(error));
      if (!clash || attempt >= attempts) throw error;
    }
  }
}
