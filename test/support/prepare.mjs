// Runs before the test suite: makes sure the Debian packages behind the real-service tests are installed.
// Fast when everything is present (a few file checks); installs what is missing with apt-get; starts nothing.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";

const PG_BIN = "/usr/lib/postgresql/15/bin";

/** Debian package → files whose presence proves it is installed. */
const REQUIRED = {
  postgresql: [`${PG_BIN}/postgres`, `${PG_BIN}/initdb`, `${PG_BIN}/pg_ctl`],
  "postgresql-contrib": ["/usr/share/postgresql/15/extension/pgcrypto.control"],
  "redis-server": ["/usr/bin/redis-server"],
  "openssh-server": ["/usr/sbin/sshd"],
  "openssh-client": ["/usr/bin/ssh", "/usr/bin/ssh-keygen"],
  pgbouncer: ["/usr/sbin/pgbouncer"],
  // sshd needs it for X11 forwarding (it stores the session's cookie with it).
  xauth: ["/usr/bin/xauth"],
};

// apt-get consults this script before starting a service; exit 101 means "don't" (the Docker convention).
const POLICY_RC_D = "/usr/sbin/policy-rc.d";

const started = Date.now();
const missing = Object.entries(REQUIRED)
  .filter(([, files]) => files.some((file) => !existsSync(file)))
  .map(([pkg]) => pkg);

if (missing.length === 0) {
  console.log(`prepare: test services present (${Object.keys(REQUIRED).join(", ")})`);
  process.exit(0);
}

const prefix = privilegePrefix();
if (prefix === undefined) {
  console.error(
    `prepare: missing Debian packages: ${missing.join(" ")}\n` +
      `prepare: not root and no password-less sudo; install them with:\n` +
      `  sudo apt-get update && sudo apt-get install -y ${missing.join(" ")}`,
  );
  process.exit(1);
}

const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
const addedPolicy = !existsSync(POLICY_RC_D) && prefix.length === 0;
if (addedPolicy) writeFileSync(POLICY_RC_D, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
const installed =
  run([...prefix, "apt-get", "update", "-q"], env) &&
  run([...prefix, "apt-get", "install", "-y", "-q", "--no-install-recommends", ...missing], env);
if (addedPolicy) rmSync(POLICY_RC_D, { force: true });
if (!installed) process.exit(1);

const still = Object.entries(REQUIRED)
  .filter(([, files]) => files.some((file) => !existsSync(file)))
  .map(([pkg]) => pkg);
if (still.length > 0) {
  console.error(`prepare: apt-get finished but these are still missing: ${still.join(" ")}`);
  process.exit(1);
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`prepare: installed ${missing.join(", ")} in ${seconds} s; all test services present`);

/** [] when root, a sudo prefix when password-less sudo works, undefined otherwise. */
function privilegePrefix() {
  if (process.getuid?.() === 0) return [];
  const probe = spawnSync("sudo", ["-n", "true"], { stdio: "ignore" });
  // sudo resets the environment, so pass DEBIAN_FRONTEND through env(1).
  return probe.status === 0 ? ["sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive"] : undefined;
}

function run(argv, env) {
  const [command, ...args] = argv;
  const result = spawnSync(command, args, { stdio: "inherit", env });
  if (result.status !== 0) {
    const why = result.error ? result.error.message : `exit status ${result.status}`;
    console.error(`prepare: \`${argv.join(" ")}\` failed (${why})`);
    return false;
  }
  return true;
}
