import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunningProxy } from "../../src/proxy/context.ts";
import { sshProxyConfig } from "../../src/proxy/ssh/config.ts";
import { startSshProxy } from "../../src/proxy/ssh/server.ts";
import { startTestGate, type TestGate } from "./gate.ts";
import { LOOPBACK } from "./ports.ts";
import { captureOutput, run } from "./process.ts";
import { type SshdOptions, type SshdServer, startSshd } from "./sshd.ts";
import { makeTempDir, type TempDir } from "./tempdir.ts";

/**
 * A real OpenSSH sshd as the upstream, a test gate with the policy given, the Sluice SSH port
 * in front, and the real OpenSSH `ssh` client for the agent (a key listed in the policy's
 * agentKeys, BatchMode; or a token as the password through SSH_ASKPASS).
 */
export interface SshHarness {
  sshd: SshdServer;
  gate: TestGate;
  proxy: RunningProxy;
  dir: TempDir;
  /** The agent's public key line, for `agentKeys` in policy. */
  agentPublicKey: string;
  /** Runs `ssh` against the Sluice port (key auth, BatchMode) and collects its output. */
  ssh(args: string[], options?: SshRunOptions): Promise<SshResult>;
  /** Starts `ssh` without waiting, for tests that read its output as it comes. */
  spawnSsh(args: string[], options?: SshRunOptions): ChildProcess;
  close(): Promise<void>;
}

export interface SshRunOptions {
  /** Sign in with this token as the password instead of the agent key. */
  token?: string;
  /** With `token`: answer the keyboard-interactive prompt instead of sending a password. */
  keyboard?: boolean;
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** The client's LogLevel (default ERROR); INFO shows e.g. the server's disconnect reason. */
  logLevel?: string;
}

export interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The policy text is built once sshd runs: it needs its address, host key and client key. */
export type PolicyFor = (upstream: {
  address: string;
  user: string;
  keyFile: string;
  knownHostsLine: string;
  agentKey: string;
}) => string;

export async function startSshHarness(
  policy: PolicyFor,
  config: Record<string, unknown> = {},
  sshdOptions: SshdOptions = {},
): Promise<SshHarness> {
  const dir = makeTempDir("ssh-agent");
  const agentKeyPath = join(dir.path, "agent_ed25519");
  const [sshd] = await Promise.all([
    startSshd(sshdOptions),
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "agent-1", "-f", agentKeyPath]),
  ]);
  const agentPublicKey = readFileSync(`${agentKeyPath}.pub`, "utf8").trim();
  const gate = await startTestGate(
    policy({
      address: `${sshd.host}:${sshd.port}`,
      user: sshd.user,
      keyFile: sshd.clientKeyPath,
      knownHostsLine: sshd.knownHostsLine,
      agentKey: agentPublicKey,
    }),
  );
  const proxy = await startSshProxy(sshProxyConfig.parse({ port: 0, ...config }), gate.context());
  const hostKey = readFileSync(join(gate.dataDir, "keys", "ssh-host-ed25519.pub"), "utf8").trim();
  const knownHosts = join(dir.path, "known_hosts");
  writeFileSync(knownHosts, `[${LOOPBACK}]:${proxy.port} ${hostKey.split(" ").slice(0, 2).join(" ")}\n`);
  const askpass = join(dir.path, "askpass.sh");
  writeFileSync(askpass, '#!/bin/sh\nprintf "%s\\n" "$SLUICE_TEST_TOKEN"\n', { mode: 0o755 });

  const argv = (args: string[], options: SshRunOptions) => [
    "-F",
    "/dev/null",
    "-p",
    String(proxy.port),
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `LogLevel=${options.logLevel ?? "ERROR"}`,
    "-o",
    "ConnectTimeout=10",
    ...(options.token
      ? [
          ...["-o", "BatchMode=no", "-o", "NumberOfPasswordPrompts=1"],
          ...["-o", `PreferredAuthentications=${options.keyboard ? "keyboard-interactive" : "password"}`],
        ]
      : ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", agentKeyPath]),
    ...args,
  ];
  const spawnSsh = (args: string[], options: SshRunOptions = {}) => {
    const child = spawn("ssh", argv(args, options), {
      stdio: ["pipe", "pipe", "pipe"],
      env: {
        ...process.env,
        ...options.env,
        ...(options.token
          ? { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", SLUICE_TEST_TOKEN: options.token }
          : {}),
      },
    });
    child.stdin?.on("error", () => {}); // ssh may be gone before it reads its input
    return child;
  };
  return {
    sshd,
    gate,
    proxy,
    dir,
    agentPublicKey,
    spawnSsh,
    ssh: (args, options = {}) => {
      const child = spawnSsh(args, options);
      const output = captureOutput(child, options.timeoutMs);
      child.stdin?.end(options.input ?? "");
      return output.ended;
    },
    async close() {
      await proxy.close();
      await gate.close();
      await sshd.stop();
      dir.remove();
    },
  };
}

/** A policy with one SSH target `web` on the harness's sshd; `extra` is appended (rules, masking …). */
export function webPolicy(extra = "", target = ""): PolicyFor {
  return (u) => `
targets:
  - name: web
    protocol: ssh
    address: "${u.address}"
    user: ${u.user}
    credential: { file: ${u.keyFile} }
    knownHosts: ["${u.knownHostsLine}"]
    agentKeys: [{ subject: agent-1, groups: [agents], key: "${u.agentKey}" }]
${target}
access:
  - { name: agents-web, who: { groups: [agents] }, targets: [web], level: read-write }
${extra}
`;
}
