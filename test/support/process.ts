import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { trackProcess } from "./reaper.ts";
import type { TempDir } from "./tempdir.ts";

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The passwd entry of `name`, or undefined when there is no such user. */
export function lookupUser(name: string): OsUser | undefined {
  try {
    const line = execFileSync("getent", ["passwd", name], { encoding: "utf8" }).trim();
    const [, , uid, gid, , home] = line.split(":");
    return { name, uid: Number(uid), gid: Number(gid), home: home ?? "/" };
  } catch {
    return undefined;
  }
}

export interface RunOptions {
  user?: OsUser;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
}

/** Runs a command to completion; rejects with its output when it fails. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      uid: options.user?.uid,
      gid: options.user?.gid,
      stdio: ["pipe", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 60_000,
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    child.stdin.on("error", () => {}); // a command that exits before reading its input is not an error here
    child.stdin.end(options.input ?? "");
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) return resolve(output);
      const as = options.user ? ` (as ${options.user.name})` : "";
      const status = signal ? `signal ${signal}` : `exit status ${code}`;
      reject(new Error(`\`${command} ${args.join(" ")}\`${as} failed with ${status}:\n${output.trim()}`));
    });
  });
}

/** The last lines of a log file, for error messages. */
export function logTail(file: string, lines = 40): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  const all = readFileSync(file, "utf8").trimEnd().split("\n");
  return all.slice(-lines).join("\n");
}

export class StartupError extends Error {
  override name = "StartupError";
}

/** A StartupError saying which service failed to start, why, and what its log said last. */
export function startupError(service: string, reason: unknown, logFile: string): StartupError {
  if (reason instanceof StartupError) return reason;
  const why = reason instanceof Error ? reason.message : String(reason);
  return new StartupError(
    `${service} did not start: ${why}\n--- last lines of ${logFile} ---\n${logTail(logFile)}`,
  );
}

/** Pids of all live descendants of `pid` (children first), read from /proc. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // Field 4 is the parent pid; the command name before it may contain spaces, so split after ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // the process ended while we looked
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** True while `pid` runs; a zombie (exited, not yet reaped) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Waits until none of `pids` is alive; false when some still are after timeoutMs. */
export async function waitGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

export interface ServerProcess {
  pid: number;
  logFile: string;
  /** Throws (with the log tail) if the process has already exited; for startup polling. */
  assertRunning(): void;
  /** Sends `sig` to the server and its descendants, then SIGKILL after graceMs. Idempotent. */
  stop(sig?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface SpawnServerOptions {
  logFile: string;
  user?: OsUser;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts a long-running server in the foreground with stdout and stderr appended to logFile. */
export function spawnServer(
  service: string,
  command: string,
  args: string[],
  options: SpawnServerOptions,
): ServerProcess {
  const log = openSync(options.logFile, "a");
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    uid: options.user?.uid,
    gid: options.user?.gid,
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  const pid = child.pid;
  if (pid === undefined) throw startupError(service, `could not spawn ${command}`, options.logFile);
  const untrack = trackProcess(pid);
  let exitStatus: string | undefined;
  child.on("exit", (code, sig) => {
    exitStatus = sig ? `signal ${sig}` : `exit status ${code}`;
  });
  child.on("error", (error) => {
    exitStatus = error.message;
  });
  let stopping: Promise<void> | undefined;
  return {
    pid,
    logFile: options.logFile,
    assertRunning() {
      if (exitStatus !== undefined) {
        throw startupError(service, `${command} exited (${exitStatus})`, options.logFile);
      }
    },
    stop(sig = "SIGTERM", graceMs = 5_000) {
      stopping ??= (async () => {
        const tree = [...descendants(pid), pid];
        for (const p of tree) signal(p, sig);
        if (!(await waitGone(tree, graceMs))) for (const p of tree) signal(p, "SIGKILL");
        await waitGone(tree, 2_000);
        untrack();
      })();
      return stopping;
    },
  };
}

/**
 * Runs `start` (write config, spawn the server into `dir`, wait for it) and returns what it
 * made with an idempotent `stop` that stops the server and removes `dir`. On failure the error
 * carries the log tail, read before the dir goes, and nothing is left behind.
 */
export async function launchServer<T>(
  service: string,
  dir: TempDir,
  logFile: string,
  start: (track: (server: ServerProcess) => ServerProcess) => Promise<T>,
): Promise<{ value: T; stop: () => Promise<void> }> {
  let server: ServerProcess | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= Promise.resolve(server?.stop("SIGTERM")).then(() => dir.remove());
    return stopping;
  };
  try {
    const value = await start((spawned) => {
      server = spawned;
      return spawned;
    });
    return { value, stop };
  } catch (error) {
    const failure = startupError(service, error, logFile);
    await stop();
    throw failure;
  }
}

export interface CapturedOutput {
  /** What the child printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the child has ended (it is killed after `timeoutMs`); rejects if it could not start. */
  ended: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Collects a child's stdout and stderr as text until it ends. */
export function captureOutput(child: ChildProcess, timeoutMs = 30_000): CapturedOutput {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const ended = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { stdout: () => stdout, stderr: () => stderr, ended };
}
