import { type ParseEntry, parse } from "shell-quote";
import type { SshFacts } from "../../domain/policy/command.ts";
import { memoByText } from "./memo.ts";

/**
 * SSH exec command lines, tokenised as a shell would (shell-quote): every simple command of
 * pipelines, lists (`;`, `&&`, `||`), subshells and `$(…)` is found, wrappers such as `sudo`,
 * `env`, `nice`, `timeout` are looked through, and `sh -c '…'` / `eval` are classified inside.
 */

export interface ExecClassification extends SshFacts {
  request: "exec";
  /** argv of every simple command found, wrappers removed. */
  commands: string[][];
}

/** Stands for a program the classifier could not determine; only an explicit rule can allow it. */
export const UNKNOWN_PROGRAM = "?";
const SHELLS = new Set(["sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"]);
const MAX_DEPTH = 4;

const cached = memoByText(classifyUncached);

export function classifyExec(commandLine: string): ExecClassification {
  return cached.classify(commandLine);
}

function classifyUncached(commandLine: string): ExecClassification {
  const found = { commands: [] as string[][], sudo: false };
  collect(commandLine, 0, found);
  const programs = [...new Set(found.commands.map((argv) => argv[0] as string))];
  // Shared through the cache: frozen so no caller can change another's classification.
  const commands = Object.freeze(found.commands.map((argv) => Object.freeze(argv))) as string[][];
  return Object.freeze({
    request: "exec",
    programs: Object.freeze(programs) as string[],
    commands,
    sudo: found.sudo,
  });
}

function collect(line: string, depth: number, found: { commands: string[][]; sudo: boolean }): void {
  let entries: ParseEntry[];
  try {
    // Variables stay visible as `$NAME` instead of expanding to nothing.
    entries = parse(line, (key) => `$${key}`);
  } catch {
    found.commands.push([UNKNOWN_PROGRAM]);
    return;
  }
  let words: string[] = [];
  let skipNext = false;
  const flush = () => {
    if (words.length > 0) simpleCommand(words, depth, found);
    words = [];
  };
  for (const entry of entries) {
    if (typeof entry === "string") {
      if (skipNext) skipNext = false;
      else words.push(entry);
    } else if ("op" in entry) {
      if (entry.op === "glob") words.push(entry.pattern);
      else if (/^[<>]|^\d?>/.test(entry.op))
        skipNext = true; // a redirection's target is a file, not a program
      else flush();
    }
  }
  flush();
}

function simpleCommand(words: string[], depth: number, found: { commands: string[][]; sudo: boolean }): void {
  const argv = unwrap(words, found);
  if (argv.length === 0) return;
  const program = basename(argv[0] as string);
  argv[0] = program;
  found.commands.push(argv);
  let inner: string | undefined;
  if (SHELLS.has(program)) {
    const script = argv.findIndex((arg) => /^-[a-z]*c[a-z]*$/.test(arg));
    inner = script === -1 ? undefined : argv[script + 1];
  } else if (program === "eval") {
    inner = argv.slice(1).join(" ");
  }
  if (inner === undefined) return;
  // Nested deeper than any honest command: an unknown program ("?"), which no grant covers.
  if (depth >= MAX_DEPTH) found.commands.push([UNKNOWN_PROGRAM]);
  else collect(inner, depth + 1, found);
}

/** Options of wrapper programs that take a value, so the value is not taken for the program. */
const WRAPPERS: Record<string, Set<string>> = {
  sudo: new Set(["-u", "-g", "-h", "-p", "-C", "-r", "-t", "-U", "-D", "-R", "-T"]),
  doas: new Set(["-u", "-C"]),
  env: new Set(["-u", "-C", "-S", "--unset", "--chdir"]),
  nice: new Set(["-n", "--adjustment"]),
  ionice: new Set(["-c", "-n", "-p"]),
  timeout: new Set(["-s", "-k", "--signal", "--kill-after"]),
  stdbuf: new Set(["-i", "-o", "-e"]),
  nohup: new Set(),
  time: new Set(["-f", "-o"]),
  command: new Set(),
  exec: new Set(["-a"]),
  xargs: new Set(["-I", "-n", "-P", "-d", "-E", "-L", "-s", "-a"]),
  chroot: new Set(),
};

function unwrap(words: string[], found: { sudo: boolean }): string[] {
  let i = 0;
  while (i < words.length) {
    const word = words[i] as string;
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(word)) {
      i++;
      continue;
    }
    const program = basename(word);
    const valued = WRAPPERS[program];
    if (!valued) break;
    if (program === "sudo" || program === "doas") found.sudo = true;
    i++;
    while (i < words.length) {
      const option = words[i] as string;
      if (option === "--") {
        i++;
        break;
      }
      if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(option) && program === "env") i++;
      else if (option.startsWith("-")) i += valued.has(option) ? 2 : 1;
      else break;
    }
    // timeout DURATION and chroot DIR take one positional argument before the program.
    if ((program === "timeout" || program === "chroot") && i < words.length) i++;
  }
  return words.slice(i);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
