// Best-effort cleanup of test servers and temp dirs when a test process ends without calling stop():
// an 'exit' hook for ordinary exits, plus a tiny detached watchdog shell for crashes and SIGKILL.
import { spawn } from "node:child_process";
import { rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

type Entry = { kind: "kill"; pid: number; signal: NodeJS.Signals } | { kind: "rm"; dir: string };

const entries = new Map<number, Entry>();
let nextId = 1;
let stateFile: string | undefined;
let watchdogPid: number | undefined;

/** Kill `pid` with `signal` if this process ends first. Returns the function that forgets it. */
export function trackProcess(pid: number, signal: NodeJS.Signals = "SIGKILL"): () => void {
  return add({ kind: "kill", pid, signal });
}

/** Remove `dir` if this process ends first (after the tracked processes were signalled). */
export function trackDir(dir: string): () => void {
  return add({ kind: "rm", dir });
}

function add(entry: Entry): () => void {
  const id = nextId++;
  entries.set(id, entry);
  ensureWatchdog();
  persist();
  return () => {
    if (entries.delete(id)) persist();
  };
}

// The watchdog polls the test process; once it is gone (or a zombie), it replays the state file.
const WATCHDOG = `
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
while alive "$1"; do sleep 1; done
[ -f "$2" ] || exit 0
while read -r kind a b; do [ "$kind" = kill ] && kill -s "$a" "$b" 2>/dev/null; done < "$2"
sleep 1
while read -r kind a; do [ "$kind" = rm ] && rm -rf -- "$a"; done < "$2"
rm -f -- "$2"
`;

function ensureWatchdog(): void {
  if (stateFile) return;
  stateFile = join(tmpdir(), `sluice-reaper-${process.pid}.txt`);
  writeFileSync(stateFile, "");
  const child = spawn("sh", ["-c", WATCHDOG, "sluice-reaper", String(process.pid), stateFile], {
    detached: true,
    stdio: "ignore",
  });
  child.unref();
  watchdogPid = child.pid;
  process.once("exit", reapNow);
}

function persist(): void {
  if (!stateFile) return;
  // dash's kill wants signal names without the SIG prefix.
  const line = (e: Entry) => (e.kind === "kill" ? `kill ${e.signal.slice(3)} ${e.pid}` : `rm ${e.dir}`);
  const lines = [...entries.values()].map(line);
  writeFileSync(stateFile, lines.length ? `${lines.join("\n")}\n` : "");
}

/** Synchronous, for the 'exit' event: signal what is still tracked, remove dirs, retire the watchdog. */
function reapNow(): void {
  const all = [...entries.values()];
  entries.clear();
  for (const e of all) if (e.kind === "kill") tryKill(e.pid, e.signal);
  for (const e of all) if (e.kind === "rm") rmSync(e.dir, { recursive: true, force: true, maxRetries: 3 });
  if (stateFile) tryUnlink(stateFile);
  if (watchdogPid) tryKill(watchdogPid, "SIGTERM");
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function tryUnlink(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}
