import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LOOPBACK, readGreeting, waitForPort, withFreePort } from "./ports.ts";
import { launchServer, lookupUser, run, spawnServer } from "./process.ts";
import { makeTempDir } from "./tempdir.ts";

export interface SshdOptions {
  /** Login of the test account, created with useradd when absent (default "sluice-test"). */
  user?: string;
  /** Enables password authentication and sets this password on the account. */
  password?: string;
  /** Extra sshd_config lines. */
  config?: string[];
  /** Enables X11 forwarding (sshd then needs xauth, installed with apt-get when missing). */
  x11?: boolean;
}

export interface SshdServer {
  host: string;
  port: number;
  user: string;
  password?: string;
  /** The host public key, "ssh-ed25519 AAAA…". */
  hostKeyPublic: string;
  /** "[127.0.0.1]:port ssh-ed25519 AAAA…", ready for a known_hosts file. */
  knownHostsLine: string;
  /** A known_hosts file holding knownHostsLine. */
  knownHostsPath: string;
  /** The test user's private key (OpenSSH format, no passphrase) and its path. */
  clientKey: string;
  clientKeyPath: string;
  clientPublicKey: string;
  /** Stops sshd and every session it forked, then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** A real OpenSSH sshd on 127.0.0.1 with its own host key, accepting a generated key for a test user. */
export async function startSshd(options: SshdOptions = {}): Promise<SshdServer> {
  const user = options.user ?? "sluice-test";
  await ensureUser(user, options.password);
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // privilege separation needs it
  if (options.x11) ensureXauth();
  return withFreePort((port) => startOn(port, user, options));
}

async function startOn(port: number, user: string, options: SshdOptions): Promise<SshdServer> {
  const dir = makeTempDir("sshd");
  chmodSync(dir.path, 0o711); // sshd reads authorized_keys as the test user
  const file = (name: string) => join(dir.path, name);
  const logFile = file("sshd.log");
  const { value: keys, stop } = await launchServer("sshd", dir, logFile, async (track) => {
    const written = await writeFiles(port, user, file, options);
    const args = ["-D", "-e", "-f", file("sshd_config")];
    const sshd = track(spawnServer("sshd", "/usr/sbin/sshd", args, { logFile, cwd: dir.path }));
    await waitForPort(port, { check: sshd.assertRunning });
    await readGreeting(port, /^SSH-2\.0-[^\n]*\n/);
    return written;
  });
  return { host: LOOPBACK, port, user, password: options.password, ...keys, stop };
}

type Keys = Omit<SshdServer, "host" | "port" | "user" | "password" | "stop">;

/** Host and client keys, authorized_keys, known_hosts and sshd_config in the temp dir. */
async function writeFiles(
  port: number,
  user: string,
  file: (name: string) => string,
  options: SshdOptions,
): Promise<Keys> {
  const keygen = (name: string, comment: string) =>
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file(name)]);
  await Promise.all([
    keygen("host_ed25519", "sluice-test-host"),
    keygen("client_ed25519", `${user}@sluice-test`),
  ]);
  const clientPublicKey = readFileSync(file("client_ed25519.pub"), "utf8").trim();
  writeFileSync(file("authorized_keys"), `${clientPublicKey}\n`, { mode: 0o644 });
  const [keyType, keyData] = readFileSync(file("host_ed25519.pub"), "utf8").trim().split(" ");
  const hostKeyPublic = `${keyType} ${keyData}`;
  const knownHostsLine = `[${LOOPBACK}]:${port} ${hostKeyPublic}`;
  writeFileSync(file("known_hosts"), `${knownHostsLine}\n`);
  writeFileSync(file("sshd_config"), sshdConfig(port, user, file, options).join("\n"));
  return {
    hostKeyPublic,
    knownHostsLine,
    knownHostsPath: file("known_hosts"),
    clientKey: readFileSync(file("client_ed25519"), "utf8"),
    clientKeyPath: file("client_ed25519"),
    clientPublicKey,
  };
}

function sshdConfig(
  port: number,
  user: string,
  file: (name: string) => string,
  options: SshdOptions,
): string[] {
  return [
    `Port ${port}`,
    `ListenAddress ${LOOPBACK}`,
    `HostKey ${file("host_ed25519")}`,
    "PidFile none",
    "UsePAM no",
    `AuthorizedKeysFile ${file("authorized_keys")}`,
    "PubkeyAuthentication yes",
    `PasswordAuthentication ${options.password ? "yes" : "no"}`,
    "KbdInteractiveAuthentication no",
    "PermitRootLogin no",
    `AllowUsers ${user}`,
    // Our files live under /tmp, which StrictModes rejects for being world-writable.
    "StrictModes no",
    "UseDNS no",
    "PrintMotd no",
    "PrintLastLog no",
    "MaxStartups 100:30:200",
    "MaxSessions 64",
    "LogLevel VERBOSE",
    "Subsystem sftp internal-sftp",
    ...(options.x11 ? ["X11Forwarding yes", `XAuthLocation ${XAUTH}`] : []),
    ...(options.config ?? []),
    "",
  ];
}

/**
 * Creates the account if needed and makes sshd accept it: a fresh useradd account is locked ("!"),
 * which sshd with UsePAM no refuses even for key logins, so give it "*" (no password, not locked).
 */
async function ensureUser(user: string, password?: string): Promise<void> {
  if (!lookupUser(user)) {
    await retryLocked(() => run("useradd", ["--create-home", "--shell", "/bin/bash", user])).catch(
      (error) => {
        if (!lookupUser(user)) throw error; // a parallel test process may have created it first
      },
    );
  }
  if (password !== undefined) {
    await retryLocked(() => run("chpasswd", [], { input: `${user}:${password}\n` }));
  } else if (shadowHash(user).startsWith("!")) {
    await retryLocked(() => run("usermod", ["-p", "*", user]));
  }
}

function shadowHash(user: string): string {
  const line = readFileSync("/etc/shadow", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith(`${user}:`));
  return line?.split(":")[1] ?? "";
}

/** useradd and friends fail while another process holds /etc/passwd's lock; try again briefly. */
async function retryLocked<T>(action: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (attempt >= 20 || !/lock/i.test(String(error))) throw error;
      await sleep(50 * attempt);
    }
  }
}

const XAUTH = "/usr/bin/xauth";

/** sshd refuses X11 forwarding without xauth (test/support/prepare.mjs installs it). */
function ensureXauth(): void {
  if (!existsSync(XAUTH)) throw new Error("X11 forwarding needs xauth: run `node test/support/prepare.mjs`");
}
