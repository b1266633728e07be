/**
 * bench/ssh: the real OpenSSH client against a real OpenSSH sshd, direct and through Sluice's
 * SSH port (masking with the default secret detectors plus a profile, recording on), in one run:
 *  (a) throughput of `cat` of a 256 MiB text file (log lines and JSON rows, a secret every few
 *      KB) to /dev/null, best of --runs; ratio through/direct (target: at least 0.5), and the
 *      same through a port with masking off, to show what masking costs;
 *  (b) latency of a trivial exec (`true`): a new connection each time, and on one multiplexed
 *      connection (ControlMaster), median of --execs; added milliseconds through Sluice.
 *   npx tsx bench/ssh.ts [--mib 256 --runs 2 --execs 30]
 */
import { spawn } from "node:child_process";
import { chmodSync, createWriteStream, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { sshProxyConfig } from "../src/proxy/ssh/config.ts";
import { startSshProxy } from "../src/proxy/ssh/server.ts";
import { startTestGate } from "../test/support/gate.ts";
import { LOOPBACK } from "../test/support/ports.ts";
import { run } from "../test/support/process.ts";
import { startSshd } from "../test/support/sshd.ts";
import { makeTempDir } from "../test/support/tempdir.ts";
import { sshCorpus } from "../test/unit/masking-corpus.ts";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "256" },
    runs: { type: "string", default: "2" },
    execs: { type: "string", default: "30" },
  },
});
const MIB = Number(values.mib);
const RUNS = Number(values.runs);
const EXECS = Number(values.execs);

const dir = makeTempDir("bench-ssh");
chmodSync(dir.path, 0o755);
const agentKey = join(dir.path, "agent_ed25519");
const [sshd] = await Promise.all([
  startSshd(),
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", agentKey]),
]);
const target = (name: string, masking: string) => `
  - name: ${name}
    protocol: ssh
    address: "${sshd.host}:${sshd.port}"
    user: ${sshd.user}
    credential: { file: ${sshd.clientKeyPath} }
    knownHosts: ["${sshd.knownHostsLine}"]
    ${masking}
    agentKeys: [{ subject: agent-1, groups: [agents], key: "${readFileSync(`${agentKey}.pub`, "utf8").trim()}" }]`;
// `web` masks (default secret detectors plus the pii profile); `plain`, on a second port with
// the defaults off, only relays and records: the difference is what masking costs.
const gate = await startTestGate(`
targets:
${target("web", "masking: pii")}
${target("plain", "")}
access:
  - { name: agents-web, who: { groups: [agents] }, targets: [web, plain], level: read-write }
masking:
  - name: pii
    detectors: [{ detector: email, strategy: partial }, { detector: credit_card, strategy: redact }]
`);
const proxy = await startSshProxy(sshProxyConfig.parse({ port: 0 }), gate.context());
const plainProxy = await startSshProxy(
  sshProxyConfig.parse({ port: 0, maskSecretsByDefault: false }),
  gate.context(),
);
const sluiceKnownHosts = join(dir.path, "known_hosts");
const hostKey = readFileSync(join(gate.dataDir, "keys", "ssh-host-ed25519.pub"), "utf8")
  .trim()
  .split(" ");
writeFileSync(
  sluiceKnownHosts,
  [proxy.port, plainProxy.port].map((port) => `[${LOOPBACK}]:${port} ${hostKey[0]} ${hostKey[1]}\n`).join(""),
);

const file = join(dir.path, "big.txt");
await writeCorpus(file, MIB * 1024 * 1024);

const routes = {
  direct: [
    "-p",
    String(sshd.port),
    "-i",
    sshd.clientKeyPath,
    "-o",
    `UserKnownHostsFile=${sshd.knownHostsPath}`,
    `${sshd.user}@${LOOPBACK}`,
  ],
  sluice: [
    "-p",
    String(proxy.port),
    "-i",
    agentKey,
    "-o",
    `UserKnownHostsFile=${sluiceKnownHosts}`,
    `web@${LOOPBACK}`,
  ],
  "no-mask": [
    "-p",
    String(plainProxy.port),
    "-i",
    agentKey,
    "-o",
    `UserKnownHostsFile=${sluiceKnownHosts}`,
    `plain@${LOOPBACK}`,
  ],
};
const base = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR"];

/** Runs ssh, discarding stdout; resolves with the wall time in ms. */
function ssh(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn("ssh", [...base, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("close", (code) =>
      code === 0 ? resolve(performance.now() - started) : reject(new Error(`ssh exited ${code}: ${stderr}`)),
    );
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

console.log(`bench/ssh: ${MIB} MiB file, ${RUNS} runs each (best), ${EXECS} trivial execs each (median)`);
// Direct and through Sluice alternate, so a busy neighbour on the machine slows both alike.
const best: Record<string, number> = {};
for (let i = 0; i < RUNS; i++) {
  for (const [name, route] of Object.entries(routes))
    best[name] = Math.min(best[name] ?? Number.POSITIVE_INFINITY, await ssh([...route, `cat ${file}`]));
}
const throughput: Record<string, number> = {};
for (const name of Object.keys(routes)) {
  throughput[name] = MIB / ((best[name] as number) / 1000);
  console.log(`  cat ${MIB} MiB ${name.padEnd(7)}: ${(throughput[name] as number).toFixed(1)} MiB/s`);
}
const ratio = (name: string) => ((throughput[name] as number) / (throughput.direct as number)).toFixed(2);
console.log(`  ratio through Sluice (masking, recording) / direct: ${ratio("sluice")} (target ≥ 0.5)`);
console.log(`  ratio through Sluice without masking / direct: ${ratio("no-mask")}`);

// Alternating again: direct, through Sluice, direct, … for each way of running the exec.
const timed = ["direct", "sluice"] as const;
const mux = (name: string) => [
  ...["-o", "ControlMaster=auto", "-o", `ControlPath=${join(dir.path, `mux-${name}`)}`],
  ...["-o", "ControlPersist=60"],
];
for (const name of timed) await ssh([...mux(name), ...routes[name], "true"]); // opens the master connections
const samples = {
  fresh: { direct: [] as number[], sluice: [] as number[] },
  mux: { direct: [] as number[], sluice: [] as number[] },
};
for (let i = 0; i < EXECS; i++) {
  for (const name of timed) {
    samples.fresh[name].push(await ssh([...routes[name], "true"]));
    samples.mux[name].push(await ssh([...mux(name), ...routes[name], "true"]));
  }
}
for (const name of timed) {
  await ssh([...mux(name), "-O", "exit", ...routes[name]]).catch(() => 0);
  console.log(
    `  exec \`true\` ${name.padEnd(7)}: new connection ${median(samples.fresh[name]).toFixed(1)} ms, on an open connection ${median(samples.mux[name]).toFixed(1)} ms`,
  );
}
const added = (kind: "fresh" | "mux") =>
  (median(samples[kind].sluice) - median(samples[kind].direct)).toFixed(1);
console.log(
  `  added by Sluice: ${added("mux")} ms per exec on an open connection, ${added("fresh")} ms per new connection`,
);

await proxy.close();
await plainProxy.close();
await gate.close();
await sshd.stop();
dir.remove();

/** About `bytes` of log lines and JSON rows; one line in 50 carries a secret or an email. */
async function writeCorpus(path: string, bytes: number): Promise<void> {
  const block = sshCorpus();
  const out = createWriteStream(path);
  for (let written = 0; written < bytes; written += block.length) {
    if (!out.write(block)) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
  }
  await new Promise<void>((resolve) => out.end(() => resolve()));
  chmodSync(path, 0o644);
}
