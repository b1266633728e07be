import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/eventstore/port.ts";
import { maskText } from "../../src/gate/masking/index.ts";
import { contentRules } from "../../src/proxy/ssh/masking.ts";
import { collect, until } from "../support/events.ts";
import { LOOPBACK } from "../support/ports.ts";
import { type SshHarness, startSshHarness, webPolicy } from "../support/ssh-harness.ts";
import { makeTempDir, type TempDir } from "../support/tempdir.ts";

const profile = `
masking:
  - name: pii
    detectors:
      - { detector: email, strategy: partial }
`;
const AWS = "AKIAIOSFODNN7EXAMPLE";
const PEM_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQ";
const URL_PW = "s3cr3t-Pw9";

describe("ssh output masking (secrets printed by the upstream, split across chunks)", () => {
  let h: SshHarness;
  let files: TempDir;

  beforeAll(async () => {
    h = await startSshHarness(webPolicy(profile, "    masking: pii"));
    files = makeTempDir("ssh-mask");
    chmodSync(files.path, 0o755); // the upstream login reads these
  });
  afterAll(async () => {
    await h?.close();
    files?.remove();
  });

  /** The CommandCompleted whose kept output passes `test` (completions become durable shortly after). */
  const completedWhere = async (test: (output: string) => boolean) => {
    let found: RecordedEvent | undefined;
    await until(async () => {
      found = (await collect(h.gate.store.readAll())).find(
        (e) => e.type === "CommandCompleted" && test(String(e.data.output)),
      );
      return found !== undefined;
    });
    return found;
  };

  const file = (name: string, text: string) => {
    const path = join(files.path, name);
    writeFileSync(path, text, { mode: 0o644 });
    return path;
  };

  it("never lets an AWS key, a private key block or a URL password through, however it is split", async () => {
    // Each secret is printed in two writes with a pause between, so it reaches Sluice in two chunks.
    const script = file(
      "leak.sh",
      [
        `printf 'aws_access_key_id = ${AWS.slice(0, 9)}'; sleep 0.2; printf '${AWS.slice(9)}\\n'`,
        `printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\\n${PEM_BODY.slice(0, 30)}'; sleep 0.2`,
        `printf '${PEM_BODY.slice(30)}\\n-----END OPENSSH PRIVATE KEY-----\\n'`,
        `printf 'DATABASE_URL=postgres://app:${URL_PW.slice(0, 4)}' >&2; sleep 0.2`,
        `printf '${URL_PW.slice(4)}@db.internal:5432/app\\n' >&2`,
        "echo contact: alice@example.com",
      ].join("\n"),
    );
    const result = await h.ssh([`web@${LOOPBACK}`, `sh ${script}`]);
    expect(result.code).toBe(0);
    const seen = result.stdout + result.stderr;
    for (const fragment of [AWS.slice(9), PEM_BODY.slice(0, 30), PEM_BODY.slice(30), URL_PW.slice(4)])
      expect(seen).not.toContain(fragment);
    expect(result.stdout).toContain("aws_access_key_id = «redacted:aws_access_key_id»");
    expect(result.stdout).toContain("«redacted:private_key_pem»");
    expect(result.stderr).toContain("postgres://app:«redacted:url_password»@db.internal:5432/app");
    // The target's profile (pii) applies too: emails partially masked.
    expect(result.stdout).not.toContain("alice@example.com");
    expect(result.stdout).toMatch(/contact: \*+/);

    const completed = await completedWhere((output) => output.includes("aws_access_key_id"));
    expect(completed?.data).toMatchObject({ status: "ok" });
    const rules = (completed?.data as { masked: { field: string; rule: string }[] } | undefined)?.masked.map(
      (m) => `${m.field}:${m.rule}`,
    );
    expect(rules).toEqual(
      expect.arrayContaining([
        "stdout:credentials/aws_access_key_id",
        "stdout:credentials/private_key_pem",
        "stdout:pii/email",
        "stderr:credentials/url_password",
      ]),
    );
    expect(JSON.stringify(completed?.data)).not.toContain(AWS);
  });

  it("masks a large output exactly as the engine masks the whole text, keeping only a bounded part", async () => {
    const lines: string[] = [];
    for (let i = 0, size = 0; size < 3 * 1024 * 1024; i++) {
      const line =
        i % 97 === 0
          ? `line ${i} key=${AWS} url=redis://:${URL_PW}${i}@cache:6379/0 mail=user${i}@example.com\n`
          : `line ${i} ${"lorem ipsum dolor sit amet ".repeat(3)}\n`;
      lines.push(line);
      size += line.length;
    }
    const text = lines.join("");
    const path = file("big.txt", text);
    const result = await h.ssh([`web@${LOOPBACK}`, `cat ${path}`]);
    expect(result.code).toBe(0);
    const expected = maskText(text, contentRules(h.gate.context().policy(), "pii", true)).text;
    expect(result.stdout.length).toBe(expected.length);
    expect(result.stdout === expected).toBe(true);
    expect(result.stdout).not.toContain(AWS);

    const completed = await completedWhere((output) => output.startsWith("line 0 key="));
    const data = completed?.data as { output: string; truncated: { bytes: number } };
    expect(Buffer.byteLength(data.output)).toBeGreaterThan(64 * 1024 - 4);
    expect(Buffer.byteLength(data.output)).toBeLessThanOrEqual(64 * 1024);
    expect(expected.startsWith(data.output)).toBe(true);
    expect(Buffer.byteLength(data.output) + data.truncated.bytes).toBe(Buffer.byteLength(expected));
  });
});
