import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/eventstore/port.ts";
import { collect, until } from "../support/events.ts";
import { LOOPBACK } from "../support/ports.ts";
import { captureOutput } from "../support/process.ts";
import { type SshHarness, startSshHarness, webPolicy } from "../support/ssh-harness.ts";

const rules = `
rules:
  - { name: no-rm, action: deny, reason: "rm is not run through agents", match: { ssh: { programs: [rm] } } }
  - name: approve-hostname
    action: require_approval
    match: { ssh: { programs: [hostname] } }
    approval: { groups: [sre], timeout: 1m }
  - { name: x11-ok, action: allow, match: { ssh: { requests: [x11] } } }
`;
// A second target on the same sshd whose knownHosts names another key: its host key is unknown.
const stranger = (address: string, user: string, keyFile: string) => `
  - name: stranger
    protocol: ssh
    address: "${address}"
    user: ${user}
    credential: { file: ${keyFile} }
    knownHosts: ["[${LOOPBACK}]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]
    agentKeys: [{ subject: agent-1, groups: [agents], key: "KEY" }]`;

describe("ssh exec through Sluice (OpenSSH client → Sluice → OpenSSH sshd)", () => {
  let h: SshHarness;
  const sre = { subject: "sam", groups: ["sre"], kind: "human" as const };

  beforeAll(async () => {
    h = await startSshHarness((u) =>
      webPolicy(
        rules,
        stranger(u.address, u.user, u.keyFile).replace("KEY", u.agentKey),
      )(u).replace("targets: [web]", "targets: [web, stranger]"),
    );
  });
  afterAll(async () => {
    await h?.close();
  });

  const events = async () => collect(h.gate.store.readAll());
  /** The events of the session that ran `commandText`, once it has ended (SessionEnded). */
  const sessionOf = async (commandText: string) => {
    let session: RecordedEvent[] = [];
    await until(async () => {
      const all = await events();
      const decided = all.find((e) => e.type === "CommandDecided" && e.data.command === commandText);
      const sessionId = (decided?.data as { sessionId: string } | undefined)?.sessionId;
      session = all.filter((e) => sessionId && (e.data as { sessionId?: string }).sessionId === sessionId);
      return session.some((e) => e.type === "SessionEnded");
    });
    return session;
  };
  const completedOf = (session: RecordedEvent[]) =>
    session.find((e) => e.type === "CommandCompleted")?.data as Record<string, unknown> | undefined;

  it("runs an allowed command with stdout, stderr and exit status relayed, and records it", async () => {
    const command = "echo hello; echo oops >&2; exit 3";
    const result = await h.ssh([`web@${LOOPBACK}`, command]);
    expect(result).toMatchObject({ code: 3, stdout: "hello\n" });
    expect(result.stderr).toContain("oops");
    const session = await sessionOf(command);
    expect(session.map((e) => e.type)).toEqual([
      "SessionStarted",
      "CommandDecided",
      "CommandCompleted",
      "SessionEnded",
    ]);
    expect(session[0]?.data).toMatchObject({
      protocol: "ssh",
      target: "web",
      identity: { subject: "agent-1" },
    });
    expect(session[1]?.data).toMatchObject({
      decision: "allow",
      classification: { request: "exec", programs: ["echo", "exit"] },
    });
    expect(completedOf(session)).toMatchObject({
      status: "error",
      tag: "exit 3",
      output: expect.stringContaining("hello"),
    });
  });

  it("refuses a denied command with a stderr line and exit status 126, and it never runs", async () => {
    const command = "touch /tmp/sluice-denied-marker-$PPID; rm -f /tmp/nothing";
    const result = await h.ssh([`web@${LOOPBACK}`, command]);
    expect(result.code).toBe(126);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("sluice: denied (rule no-rm): rm is not run through agents");
    const check = await h.ssh([`web@${LOOPBACK}`, "ls /tmp | grep -c sluice-denied-marker || true"]);
    expect(check.stdout.trim()).toBe("0");
    const session = await sessionOf(command);
    expect(session.find((e) => e.type === "CommandDecided")?.data).toMatchObject({
      decision: "deny",
      rule: "no-rm",
    });
  });

  const held = async (child: ChildProcess): Promise<string> => {
    let stderr = "";
    return new Promise((resolve, reject) => {
      child.stderr?.on("data", (chunk) => {
        stderr += chunk;
        const found = /held for approval ([0-9a-f-]{36})/.exec(stderr);
        if (found) resolve(found[1] as string);
      });
      child.once("close", () => reject(new Error(`ssh ended before the hold notice: ${stderr}`)));
    });
  };
  const outcome = (child: ChildProcess) => captureOutput(child).ended;

  it("holds a risky command, tells the agent how it is approved, and runs it once approved", async () => {
    const child = h.spawnSsh([`web@${LOOPBACK}`, "hostname"]);
    child.stdin?.end();
    const done = outcome(child);
    const approvalId = await held(child);
    await h.gate.approvals.vote(approvalId, sre, "approve");
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout.trim().length).toBeGreaterThan(0);
    expect(result.stderr).toContain(`sluice approvals approve ${approvalId}`);
    const session = await sessionOf("hostname");
    expect(session.find((e) => e.type === "CommandDecided")?.data).toMatchObject({
      decision: "require_approval",
      approvalId,
    });
    expect(completedOf(session)).toMatchObject({ status: "ok", tag: "exit 0" });
  });

  it("holds a risky command and refuses it with 126 when the approver denies", async () => {
    const child = h.spawnSsh([`web@${LOOPBACK}`, "hostname -f"]);
    child.stdin?.end();
    const done = outcome(child);
    const approvalId = await held(child);
    await h.gate.approvals.vote(approvalId, sre, "deny", "not during the freeze");
    const result = await done;
    expect(result.code).toBe(126);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("not during the freeze");
    expect(completedOf(await sessionOf("hostname -f"))).toMatchObject({ status: "denied" });
  });

  it("cancels the approval when the agent hangs up while held", async () => {
    const child = h.spawnSsh([`web@${LOOPBACK}`, "hostname -s"]);
    child.stdin?.end();
    const approvalId = await held(child);
    child.kill("SIGKILL");
    await until(async () => (await h.gate.approvals.state(approvalId)).status === "cancelled", 10_000);
    expect((await sessionOf("hostname -s")).at(-1)?.type).toBe("SessionEnded");
  });

  it("relays exit signals as the direct connection does", async () => {
    const command = "kill -TERM $$";
    const direct = await new Promise<number | null>((resolve) => {
      const child = spawn("ssh", [
        "-F",
        "/dev/null",
        "-p",
        String(h.sshd.port),
        "-o",
        `UserKnownHostsFile=${h.sshd.knownHostsPath}`,
        "-o",
        "BatchMode=yes",
        "-i",
        h.sshd.clientKeyPath,
        `${h.sshd.user}@${LOOPBACK}`,
        command,
      ]);
      child.on("close", resolve);
    });
    const via = await h.ssh([`web@${LOOPBACK}`, command]);
    expect(via.code).toBe(direct);
    const completed = completedOf(await sessionOf(command));
    expect(completed).toMatchObject({ status: "error", tag: "signal TERM" });
  });

  it("accepts a gateway credential as the password and refuses one for another target", async () => {
    const { token } = await h.gate.credential({ target: "web", access: "read-write" });
    const ok = await h.ssh([`web@${LOOPBACK}`, "whoami"], { token });
    expect(ok).toMatchObject({ code: 0, stdout: `${h.sshd.user}\n` });
    const other = await h.gate.credential({ target: "stranger", access: "read-write" });
    const refused = await h.ssh([`web@${LOOPBACK}`, "whoami"], { token: other.token });
    expect(refused.code).toBe(255);
    expect(refused.stderr).toContain("Permission denied");
  });

  /** Starts `ssh … args` with `token`; resolves once the upstream command is running (its first output). */
  const runningWith = async (token: string, args: string[], logLevel?: string) => {
    const output = captureOutput(h.spawnSsh(args, { token, ...(logLevel ? { logLevel } : {}) }));
    return { started: () => output.stdout().length > 0, ended: () => output.ended };
  };
  const security = { subject: "sec", groups: [], kind: "human" as const };

  it("ends a connection whose credential is revoked while a command runs, telling the agent why", async () => {
    const { token, credentialId } = await h.gate.credential({ target: "web", access: "read-write" });
    const started = Date.now();
    const running = await runningWith(token, [`web@${LOOPBACK}`, "echo started; sleep 20"]);
    await until(running.started);
    await h.gate.credentials.revoke(credentialId, security, "leaked");
    const result = await running.ended();
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBe(126); // it ran (allowed) and was cut off, not refused
    expect(result.stdout).toBe("started\n");
    expect(result.stderr).toContain(`sluice: credential ${credentialId} was revoked; connection closed`);
    expect(Date.now() - started).toBeLessThan(15_000);
    const completed = completedOf(await sessionOf("echo started; sleep 20"));
    expect(completed).toMatchObject({ status: "cancelled" });
  });

  it("ends a connection whose credential expires while a command runs, telling the agent why", async () => {
    const { token, credentialId } = await h.gate.credential({
      target: "web",
      access: "read-write",
      ttlMs: 2000,
    });
    const running = await runningWith(token, [`web@${LOOPBACK}`, "echo started; sleep 20"]);
    const result = await running.ended();
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe("started\n");
    expect(result.stderr).toContain(`sluice: credential ${credentialId} expired; connection closed`);
  });

  it("gives the revocation as the disconnect reason where no command runs (ssh -N)", async () => {
    const { token, credentialId } = await h.gate.credential({ target: "web", access: "read-write" });
    const idle = await runningWith(token, ["-N", `web@${LOOPBACK}`], "INFO");
    const sessions = async () => (await events()).filter((e) => e.type === "SessionStarted").length;
    const before = await sessions();
    await until(async () => (await sessions()) > before);
    await h.gate.credentials.revoke(credentialId, security, "leaked");
    const result = await idle.ended();
    expect(result.code).toBe(255);
    expect(result.stderr).toMatch(
      new RegExp(
        `Received disconnect from .*: sluice: credential ${credentialId} was revoked; connection closed`,
      ),
    );
  });

  it("takes the upstream login from <login>@<target>, only when policy allows that login", async () => {
    const same = await h.ssh(["-l", `${h.sshd.user}@web`, LOOPBACK, "whoami"]);
    expect(same).toMatchObject({ code: 0, stdout: `${h.sshd.user}\n` });
    const root = await h.ssh(["-l", "root@web", LOOPBACK, "whoami"]);
    expect(root.code).toBe(255);
    expect(root.stderr).toContain("Permission denied");
  });

  it("lets a credential name the target (user name = login) and answers keyboard-interactive", async () => {
    const { token } = await h.gate.credential({ target: "web", access: "read-write" });
    const byScope = await h.ssh([`${h.sshd.user}@${LOOPBACK}`, "whoami"], { token });
    expect(byScope).toMatchObject({ code: 0, stdout: `${h.sshd.user}\n` });
    const keyboard = await h.ssh([`web@${LOOPBACK}`, "whoami"], { token, keyboard: true });
    expect(keyboard).toMatchObject({ code: 0, stdout: `${h.sshd.user}\n` });
    const wrong = await h.ssh([`web@${LOOPBACK}`, "whoami"], { token: `${token}x`, keyboard: true });
    expect(wrong.code).toBe(255);
  });

  it("refuses a read-only credential a write, by the credential's scope", async () => {
    const { token } = await h.gate.credential({ target: "web", access: "read-only" });
    const result = await h.ssh([`web@${LOOPBACK}`, "uptime"], { token });
    expect(result.code).toBe(126);
    expect(result.stderr).toContain("scoped to read-only");
  });

  it("runs the command without X11 where policy allows it but the target refuses it, telling the agent", async () => {
    // This file's sshd has X11Forwarding off (the default).
    const result = await h.ssh(["-Y", `web@${LOOPBACK}`, "echo ran"], {
      env: { DISPLAY: `${LOOPBACK}:1`, XAUTHORITY: "/nonexistent" },
    });
    expect(result).toMatchObject({ code: 0, stdout: "ran\n" });
    expect(result.stderr).toContain("sluice: the target refused X11 forwarding; running without it");
  });

  it("refuses an upstream whose host key is not in knownHosts, before any command is decided", async () => {
    const before = (await events()).filter((e) => e.type === "CommandDecided").length;
    const result = await h.ssh([`stranger@${LOOPBACK}`, "echo should-not-run"]);
    expect(result.code).toBe(255);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("no knownHosts entry");
    const after = (await events()).filter((e) => e.type === "CommandDecided").length;
    expect(after).toBe(before);
  });
});
