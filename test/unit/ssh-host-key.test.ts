import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ssh2 from "ssh2";
import { afterAll, describe, expect, it } from "vitest";
import { generateHostKey, loadOrCreateHostKey } from "../../src/proxy/ssh/host-key.ts";
import { makeTempDir } from "../support/tempdir.ts";

describe("the SSH port's host key", () => {
  const dir = makeTempDir("ssh-host-key");
  afterAll(() => dir.remove());

  it("is generated into the data dir once, then reused", () => {
    const first = loadOrCreateHostKey(undefined, dir.path);
    const again = loadOrCreateHostKey(undefined, dir.path);
    expect(again.equals(first)).toBe(true);
    expect(readFileSync(join(dir.path, "keys", "ssh-host-ed25519.pub"), "utf8")).toMatch(/^ssh-ed25519 /);
  });

  it("always comes out parseable (ssh2's generator alone sometimes writes a malformed Ed25519 key)", () => {
    for (let i = 0; i < 1500; i++) {
      const parsed = ssh2.utils.parseKey(generateHostKey().private);
      expect(parsed instanceof Error).toBe(false);
    }
  });

  it("refuses a configured file that is missing or holds no private key", () => {
    expect(() => loadOrCreateHostKey(join(dir.path, "absent"), dir.path)).toThrow(/does not exist/);
    const publicOnly = join(dir.path, "public-only");
    writeFileSync(publicOnly, readFileSync(join(dir.path, "keys", "ssh-host-ed25519.pub")));
    expect(() => loadOrCreateHostKey(publicOnly, dir.path)).toThrow(/not a private key/);
  });
});
