import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collect, until } from "../support/events.ts";
import { freePort, LOOPBACK } from "../support/ports.ts";
import { type SshHarness, startSshHarness, webPolicy } from "../support/ssh-harness.ts";

// `web` gets the default (forwarding and sftp need a rule naming them); `tunnel`, the same host, has one.
const rules = `
rules:
  - { name: tunnels, action: allow, match: { targets: [tunnel], ssh: { requests: [port_forward, sftp] } } }
`;

describe("ssh port forwarding and sftp through Sluice: decided per request, refused unless policy allows", () => {
  let h: SshHarness;

  beforeAll(async () => {
    h = await startSshHarness((u) =>
      webPolicy(rules)(u)
        .replace("targets: [web]", "targets: [web, tunnel]")
        .replace(
          "access:",
          `  - { name: tunnel, protocol: ssh, address: "${u.address}", user: ${u.user}, credential: { file: ${u.keyFile} }, knownHosts: ["${u.knownHostsLine}"], agentKeys: [{ subject: agent-1, groups: [agents], key: "${u.agentKey}" }] }\naccess:`,
        ),
    );
  });
  afterAll(async () => {
    await h?.close();
  });

  const decisions = async (text: string) =>
    (await collect(h.gate.store.readAll())).flatMap((e) =>
      e.type === "CommandDecided" && e.data.command === text ? [e.data] : [],
    );

  it("refuses and records a local forward (ssh -W) where policy does not allow it", async () => {
    const where = `${LOOPBACK}:${h.sshd.port}`;
    const result = await h.ssh(["-W", where, `web@${LOOPBACK}`]);
    expect(result.code).toBe(255);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/stdio forwarding failed|open failed/);
    const [decided] = await decisions(`direct-tcpip ${where}`);
    expect(decided).toMatchObject({
      decision: "deny",
      classification: { request: "port_forward", direction: "local", destination: where },
    });
  });

  it("refuses and records a remote forward (ssh -R) where policy does not allow it", async () => {
    const port = await freePort();
    const result = await h.ssh([
      "-N",
      "-o",
      "ExitOnForwardFailure=yes",
      "-R",
      `${port}:${LOOPBACK}:9`,
      `web@${LOOPBACK}`,
    ]);
    expect(result.code).toBe(255);
    expect(result.stderr).toMatch(/remote port forwarding failed/i);
    const decided = await decisions(`tcpip-forward ${LOOPBACK}:${port}`);
    const localhost = await decisions(`tcpip-forward localhost:${port}`);
    expect([...decided, ...localhost][0]).toMatchObject({
      decision: "deny",
      classification: { request: "port_forward", direction: "remote" },
    });
  });

  it("carries a local forward where policy allows it (the upstream's sshd greets through the tunnel)", async () => {
    const child = h.spawnSsh(["-W", `${LOOPBACK}:${h.sshd.port}`, `tunnel@${LOOPBACK}`]);
    const greeting = await new Promise<string>((resolve, reject) => {
      let seen = "";
      child.stdout?.on("data", (chunk) => {
        seen += chunk;
        if (seen.includes("\n")) resolve(seen);
      });
      child.once("close", () => reject(new Error(`ssh ended: ${seen}`)));
    });
    child.kill();
    expect(greeting).toMatch(/^SSH-2\.0-OpenSSH/);
    expect((await decisions(`direct-tcpip ${LOOPBACK}:${h.sshd.port}`)).at(-1)).toMatchObject({
      decision: "allow",
      rule: "tunnels",
    });
  });

  it("refuses agent forwarding (ssh -A) and records the request", async () => {
    const socket = join(h.dir.path, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
    try {
      await until(() => existsSync(socket));
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, run upstream
      const command = "echo forwarded=${SSH_AUTH_SOCK:-none}";
      const result = await h.ssh(["-A", `tunnel@${LOOPBACK}`, command], { env: { SSH_AUTH_SOCK: socket } });
      expect(result).toMatchObject({ code: 0, stdout: "forwarded=none\n" });
      await until(async () => (await decisions("auth-agent-req@openssh.com")).length > 0);
      expect((await decisions("auth-agent-req@openssh.com"))[0]).toMatchObject({
        decision: "deny",
        classification: { request: "agent_forward" },
      });
    } finally {
      agent.kill();
    }
  });

  /** The real sftp client, speaking through `ssh` against the Sluice port. */
  const sftp = (target: string) => {
    const wrapper = join(h.dir.path, "ssh-for-sftp.sh");
    const key = join(h.dir.path, "agent_ed25519");
    const known = join(h.dir.path, "known_hosts");
    writeFileSync(
      wrapper,
      `#!/bin/sh\nexec ssh -F /dev/null -p ${h.proxy.port} -o UserKnownHostsFile=${known} -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR -i ${key} "$@"\n`,
      { mode: 0o755 },
    );
    return new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn("sftp", ["-S", wrapper, "-b", "-", `${target}@${LOOPBACK}`]);
      let output = "";
      child.stdout.on("data", (chunk) => {
        output += chunk;
      });
      child.stderr.on("data", (chunk) => {
        output += chunk;
      });
      child.stdin.on("error", () => {});
      child.stdin.end("ls -1 /etc/hostname\n");
      child.on("close", (code) => resolve({ code, output }));
    });
  };

  it("runs sftp only where policy names the request, and records both decisions", async () => {
    const refused = await sftp("web");
    expect(refused.code).not.toBe(0);
    expect(refused.output).not.toContain("/etc/hostname");
    const allowed = await sftp("tunnel");
    expect(allowed).toMatchObject({ code: 0, output: expect.stringContaining("/etc/hostname") });
    const decided = await decisions("subsystem sftp");
    expect(decided.map((d) => [d.decision, d.classification.request])).toEqual([
      ["deny", "sftp"],
      ["allow", "sftp"],
    ]);
  });

  it("carries a remote forward where policy allows it, back to the agent's side", async () => {
    const local: Server = createServer((socket) => socket.end("hello from the agent's side\n"));
    await new Promise<void>((resolve) => local.listen(0, LOOPBACK, resolve));
    const localPort = (local.address() as { port: number }).port;
    const remotePort = await freePort();
    const child = h.spawnSsh([
      "-N",
      "-o",
      "ExitOnForwardFailure=yes",
      "-R",
      `${LOOPBACK}:${remotePort}:${LOOPBACK}:${localPort}`,
      `tunnel@${LOOPBACK}`,
    ]);
    try {
      await until(
        async () => (await decisions(`tcpip-forward ${LOOPBACK}:${remotePort}`)).length > 0,
        10_000,
      );
      // The bind on the upstream follows the decision; connect once it listens.
      let reply = "";
      await until(async () => {
        reply = await new Promise<string>((resolve) => {
          const socket = connect(remotePort, LOOPBACK);
          let data = "";
          socket.on("data", (chunk) => {
            data += chunk;
          });
          socket.on("close", () => resolve(data));
          socket.on("error", () => resolve(""));
        });
        return reply.length > 0;
      }, 10_000);
      expect(reply).toBe("hello from the agent's side\n");
    } finally {
      child.kill();
      local.close();
    }
  });
});
