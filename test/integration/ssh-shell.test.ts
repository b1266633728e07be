import { spawn } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/eventstore/port.ts";
import { runSluice } from "../support/cli.ts";
import { collect, until } from "../support/events.ts";
import { LOOPBACK } from "../support/ports.ts";
import { type SshHarness, startSshHarness, webPolicy } from "../support/ssh-harness.ts";
import { makeTempDir, type TempDir } from "../support/tempdir.ts";

const AWS = "AKIAIOSFODNN7EXAMPLE";
const PEM = [
  "-----BEGIN OPENSSH PRIVATE KEY-----",
  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQ",
  "-----END OPENSSH PRIVATE KEY-----",
].join("\n");

// `web` allows interactive shells; `locked` (same host) does not.
const policy = webPolicy(
  `
rules:
  - { name: shells-on-web, action: allow, match: { targets: [web], ssh: { requests: [shell] } } }
`,
);

describe("interactive ssh shell through a real pty: recorded, masked, replayed", () => {
  let h: SshHarness;
  let files: TempDir;
  let secretFile: string;

  beforeAll(async () => {
    h = await startSshHarness((u) =>
      policy(u)
        .replace("targets: [web]", "targets: [web, locked]")
        .replace(
          "access:",
          `  - { name: locked, protocol: ssh, address: "${u.address}", user: ${u.user}, credential: { file: ${u.keyFile} }, knownHosts: ["${u.knownHostsLine}"], agentKeys: [{ subject: agent-1, groups: [agents], key: "${u.agentKey}" }] }\naccess:`,
        ),
    );
    files = makeTempDir("ssh-shell");
    chmodSync(files.path, 0o755);
    secretFile = join(files.path, "creds.txt");
    writeFileSync(secretFile, `aws_access_key_id=${AWS}\n${PEM}\n`, { mode: 0o644 });
  });
  afterAll(async () => {
    await h?.close();
    files?.remove();
  });

  /** `ssh -tt` inside `script`, so the client has a real pty; keystrokes are sent once the prompt shows. */
  const shell = (user: string, keystrokes: string[]) =>
    new Promise<{ code: number | null; output: string }>((resolve) => {
      const ssh = [
        "ssh -F /dev/null -tt",
        `-p ${h.proxy.port}`,
        `-o UserKnownHostsFile=${join(h.dir.path, "known_hosts")}`,
        "-o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR",
        `-i ${join(h.dir.path, "agent_ed25519")}`,
        `${user}@${LOOPBACK}`,
      ].join(" ");
      const child = spawn("script", ["-qfec", ssh, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
      child.stdin.on("error", () => {});
      let output = "";
      let sent = 0;
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString("latin1");
        // One keystroke line per shell prompt seen.
        const prompts = output.match(/~\$ /g)?.length ?? 0;
        if (sent < keystrokes.length && prompts > sent) child.stdin.write(keystrokes[sent++] as string);
      });
      child.stderr.on("data", (chunk: Buffer) => {
        output += chunk.toString("latin1");
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, output: Buffer.from(output, "latin1").toString("utf8") });
      });
    });

  /** The session whose decision passes `decided`, once it has ended. */
  const sessionEvents = async (decided: (e: RecordedEvent) => boolean) => {
    let id: string | undefined;
    let events: RecordedEvent[] = [];
    await until(async () => {
      const all = await collect(h.gate.store.readAll());
      id = (all.find(decided)?.data as { sessionId?: string } | undefined)?.sessionId;
      events = all.filter((e) => id && (e.data as { sessionId?: string }).sessionId === id);
      return events.some((e) => e.type === "SessionEnded");
    });
    return { id: id as string, events };
  };

  it("records a shell masked, and `sluice replay` plays back exactly what the agent's terminal showed", async () => {
    const result = await shell("web", [`cat ${secretFile}; echo shown-$((6*7))\n`, "exit 3\n"]);
    expect(result.code).toBe(3);
    expect(result.output).toContain("shown-42");
    expect(result.output).toContain("aws_access_key_id=«redacted:aws_access_key_id»");
    expect(result.output).toContain("«redacted:private_key_pem»");
    expect(result.output).not.toContain(AWS);
    expect(result.output).not.toContain("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE");

    const { id, events } = await sessionEvents(
      (e) => e.type === "CommandDecided" && e.data.command === "shell" && e.data.decision === "allow",
    );
    expect(events.find((e) => e.type === "CommandDecided")?.data).toMatchObject({
      classification: { request: "shell", programs: ["?"], pty: { term: expect.any(String) } },
      rule: "shells-on-web",
    });
    const chunks = events.flatMap((e) => (e.type === "OutputRecorded" ? e.data.chunks : []));
    expect(chunks.some((c) => c.channel === "stdin" && c.data.includes(`cat ${secretFile}`))).toBe(true);
    expect(JSON.stringify(events.map((e) => e.data))).not.toContain(AWS);
    expect(events.find((e) => e.type === "CommandCompleted")?.data).toMatchObject({ tag: "exit 3" });

    const config = join(files.path, "sluice.yaml");
    writeFileSync(config, `dataDir: ${h.gate.dataDir}\n`);
    const replay = await runSluice(["replay", id, "--no-wait", "-c", config]);
    expect(replay.stderr).toBe("");
    expect(replay.code).toBe(0);
    expect(replay.stdout).toBe(result.output);

    const cast = join(files.path, "session.cast");
    const asCast = await runSluice(["replay", id, "--format", "asciicast", "-o", cast, "-c", config]);
    expect(asCast.code).toBe(0);
    const [header, ...lines] = readFileSync(cast, "utf8").trimEnd().split("\n");
    expect(JSON.parse(header as string)).toMatchObject({ version: 2, width: expect.any(Number), env: {} });
    const frames = lines.map((line) => JSON.parse(line) as [number, "o" | "i", string]);
    expect(
      frames
        .filter(([, kind]) => kind === "o")
        .map(([, , data]) => data)
        .join(""),
    ).toBe(result.output);
    expect(frames.some(([, kind, data]) => kind === "i" && data.includes("cat "))).toBe(true);
    const times = frames.map(([t]) => t);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it("refuses a shell where policy allows no interactive session, with status 126", async () => {
    const result = await shell("locked", []);
    expect(result.code).toBe(126);
    expect(result.output).toContain("sluice: denied");
    const { events } = await sessionEvents(
      (e) => e.type === "CommandDecided" && e.data.command === "shell" && e.data.decision === "deny",
    );
    expect(events[0]?.data).toMatchObject({ target: "locked" });
    expect(events.some((e) => e.type === "OutputRecorded")).toBe(false);
  });

  it("caps a shell by the credential's access level, even where a rule allows shells", async () => {
    const readOnly = await h.gate.credential({ target: "web", access: "read-only" });
    const refused = await h.ssh(["-T", `web@${LOOPBACK}`], {
      token: readOnly.token,
      input: "echo ran-$((6*7))\n",
    });
    expect(refused.code).toBe(126);
    expect(refused.stdout).not.toContain("ran-42");
    expect(refused.stderr).toContain("scoped to read-only");
    const { events } = await sessionEvents(
      (e) => e.type === "CommandDecided" && e.data.command === "shell" && e.data.rule === "credential-scope",
    );
    expect(events.find((e) => e.type === "CommandDecided")?.data).toMatchObject({
      decision: "deny",
      reason: "needs read-write access; this session's credential is scoped to read-only",
    });
    // The same shell under a read-write credential is what the rule allows.
    const readWrite = await h.gate.credential({ target: "web", access: "read-write" });
    const allowed = await h.ssh(["-T", `web@${LOOPBACK}`], {
      token: readWrite.token,
      input: "echo ran-$((6*7))\n",
    });
    expect(allowed).toMatchObject({ code: 0, stdout: "ran-42\n" });
  });
});
