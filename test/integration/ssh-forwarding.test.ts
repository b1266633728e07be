import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collect, until } from "../support/events.ts";
import { freePort, LOOPBACK } from "../support/ports.ts";
import { run } from "../support/process.ts";
import { type SshHarness, startSshHarness, webPolicy } from "../support/ssh-harness.ts";
import { makeTempDir, type TempDir } from "../support/tempdir.ts";

// `web` gets the default (forwarding and sftp need a rule naming them); `tunnel`, the same host, has one.
const rules = `
rules:
  - name: tunnels
    action: allow
    match: { targets: [tunnel], ssh: { requests: [port_forward, sftp, agent_forward, x11] } }
`;

/**
 * Run upstream as the sshd's user: an X11 client that opens $DISPLAY (sshd's forwarded display),
 * sends the connection setup with the cookie sshd stored through xauth, and prints the reply.
 */
const X11_CLIENT = `
import { execFileSync } from "node:child_process";
import { connect } from "node:net";
const [, host, number] = /^(.*):(\\d+)(?:\\.\\d+)?$/.exec(process.env.DISPLAY);
const [, name, hex] = execFileSync("xauth", ["list", process.env.DISPLAY], { encoding: "utf8" }).trim().split(/\\s+/);
const pad = (b) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
const head = Buffer.alloc(12);
head.write("l", 0);
head.writeUInt16LE(11, 2);
head.writeUInt16LE(name.length, 6);
head.writeUInt16LE(hex.length / 2, 8);
const socket = connect(6000 + Number(number), host || "localhost");
let reply = "";
socket.on("data", (chunk) => { reply += chunk; });
socket.on("end", () => console.log("x11 reply: " + reply));
socket.write(Buffer.concat([head, pad(Buffer.from(name)), pad(Buffer.from(hex, "hex"))]));
`;

describe("ssh port forwarding and sftp through Sluice: decided per request, refused unless policy allows", () => {
  let h: SshHarness;
  let files: TempDir;

  beforeAll(async () => {
    files = makeTempDir("ssh-forwarding");
    chmodSync(files.path, 0o755); // the X11 client script is run by the upstream's user
    writeFileSync(join(files.path, "x11-client.mjs"), X11_CLIENT, { mode: 0o644 });
    h = await startSshHarness(
      (u) =>
        webPolicy(rules)(u)
          .replace("targets: [web]", "targets: [web, tunnel]")
          .replace(
            "access:",
            `  - { name: tunnel, protocol: ssh, address: "${u.address}", user: ${u.user}, credential: { file: ${u.keyFile} }, knownHosts: ["${u.knownHostsLine}"], agentKeys: [{ subject: agent-1, groups: [agents], key: "${u.agentKey}" }] }\naccess:`,
          ),
      {},
      { x11: true },
    );
  });
  afterAll(async () => {
    await h?.close();
    files?.remove();
  });

  /** A real ssh-agent holding a fresh key; `fingerprint` as `ssh-add -l` prints it. */
  const startAgent = async () => {
    const socket = join(h.dir.path, `agent-${Date.now()}.sock`);
    const key = join(h.dir.path, `agent-key-${Date.now()}`);
    const agent: ChildProcess = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
    await until(() => existsSync(socket));
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "forwarded-key", "-f", key]);
    await run("ssh-add", [key], { env: { SSH_AUTH_SOCK: socket } });
    const fingerprint = (await run("ssh-keygen", ["-lf", `${key}.pub`])).split(" ")[1] as string;
    return { socket, fingerprint, stop: () => agent.kill() };
  };

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

  it("refuses agent forwarding (ssh -A) where policy does not allow it: the agent is not reachable upstream", async () => {
    const agent = await startAgent();
    try {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, run upstream
      const command = "ssh-add -l; echo forwarded=${SSH_AUTH_SOCK:-none}";
      const result = await h.ssh(["-A", `web@${LOOPBACK}`, command], {
        env: { SSH_AUTH_SOCK: agent.socket },
      });
      expect(result).toMatchObject({ code: 0, stdout: "forwarded=none\n" });
      expect(result.stderr).toContain("Could not open a connection to your authentication agent");
      expect(result.stdout + result.stderr).not.toContain(agent.fingerprint);
      await until(async () => (await decisions("auth-agent-req@openssh.com")).length > 0);
      expect((await decisions("auth-agent-req@openssh.com"))[0]).toMatchObject({
        decision: "deny",
        classification: { request: "agent_forward" },
      });
    } finally {
      agent.stop();
    }
  });

  it("relays agent forwarding (ssh -A) where policy allows it: ssh-add -l upstream lists the agent's key", async () => {
    const agent = await startAgent();
    try {
      const result = await h.ssh(["-A", `tunnel@${LOOPBACK}`, "ssh-add -l"], {
        env: { SSH_AUTH_SOCK: agent.socket },
      });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(agent.fingerprint);
      expect(result.stdout).toContain("forwarded-key");
      // The request, and the channel the upstream opened back to reach the agent, each decided and recorded.
      expect((await decisions("auth-agent-req@openssh.com")).at(-1)).toMatchObject({
        decision: "allow",
        rule: "tunnels",
      });
      await until(async () => (await decisions("auth-agent@openssh.com channel")).length > 0);
      expect((await decisions("auth-agent@openssh.com channel"))[0]).toMatchObject({
        decision: "allow",
        classification: { request: "agent_forward" },
      });
    } finally {
      agent.stop();
    }
  });

  /** A stand-in X server on 127.0.0.1:6000+N: records the client's connection setup, answers a fixed reply. */
  const startXServer = async () => {
    let setup = Buffer.alloc(0);
    const server: Server = createServer((socket: Socket) => {
      socket.on("data", (chunk: Buffer) => {
        setup = Buffer.concat([setup, chunk]);
        if (setup.length < 12) return;
        const padded = (n: number) => n + ((4 - (n % 4)) % 4);
        if (setup.length >= 12 + padded(setup.readUInt16LE(6)) + padded(setup.readUInt16LE(8))) {
          socket.end("SLUICE-X11-REPLY");
        }
      });
      socket.on("error", () => {});
    });
    let port = await freePort();
    while (port <= 6000) port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, LOOPBACK, resolve));
    return { display: `${LOOPBACK}:${port - 6000}`, setup: () => setup, close: () => server.close() };
  };
  const x11Env = (display: string) => ({ DISPLAY: display, XAUTHORITY: join(h.dir.path, "no-xauthority") });

  it("relays X11 (ssh -Y) where policy allows it: an X client upstream reaches the agent's display", async () => {
    const x = await startXServer();
    try {
      const client = join(files.path, "x11-client.mjs");
      const result = await h.ssh(["-Y", `tunnel@${LOOPBACK}`, `node ${client}`], { env: x11Env(x.display) });
      expect(result.code).toBe(0);
      expect(result.stdout).toBe("x11 reply: SLUICE-X11-REPLY\n");
      // The X server got the setup as the agent's ssh passed it on: little-endian, X11, MIT-MAGIC-COOKIE-1.
      const setup = x.setup();
      expect(setup.subarray(0, 1).toString()).toBe("l");
      expect(setup.readUInt16LE(2)).toBe(11);
      expect(setup.subarray(12, 12 + setup.readUInt16LE(6)).toString()).toBe("MIT-MAGIC-COOKIE-1");
      expect((await decisions("x11-req")).at(-1)).toMatchObject({ decision: "allow", rule: "tunnels" });
      const opened = (await collect(h.gate.store.readAll())).flatMap((e) =>
        e.type === "CommandDecided" && e.data.command.startsWith("x11 channel from ") ? [e.data] : [],
      );
      expect(opened[0]).toMatchObject({ decision: "allow", classification: { request: "x11" } });
    } finally {
      x.close();
    }
  });

  it("refuses X11 (ssh -Y) where policy does not allow it, and records the request", async () => {
    const x = await startXServer();
    try {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, run upstream
      const result = await h.ssh(["-Y", `web@${LOOPBACK}`, "echo display=${DISPLAY:-none}"], {
        env: x11Env(x.display),
      });
      expect(result).toMatchObject({ code: 0, stdout: "display=none\n" });
      expect(x.setup().length).toBe(0);
      expect((await decisions("x11-req")).at(-1)).toMatchObject({
        decision: "deny",
        classification: { request: "x11" },
      });
    } finally {
      x.close();
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
