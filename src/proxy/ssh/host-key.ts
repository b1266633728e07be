import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import ssh2 from "ssh2";
import { SluiceError } from "../../errors.ts";

/** The SSH port's host key: the configured file, or an Ed25519 key generated into the data dir once. */
export function loadOrCreateHostKey(file: string | undefined, dataDir: string): Buffer {
  const path = file ?? join(dataDir, "keys", "ssh-host-ed25519");
  if (!existsSync(path)) {
    if (file) throw new SluiceError("CONFIG_INVALID", `proxies.ssh.hostKeyFile: ${file} does not exist`);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const pair = generateHostKey();
    try {
      // wx: two instances starting on one data dir must not overwrite each other's key.
      writeFileSync(path, pair.private, { mode: 0o600, flag: "wx" });
      writeFileSync(`${path}.pub`, `${pair.public}\n`, { mode: 0o644 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  const key = readFileSync(path);
  const parsed = ssh2.utils.parseKey(key);
  if (parsed instanceof Error || !parsed.isPrivateKey())
    throw new SluiceError("CONFIG_INVALID", `SSH host key ${path} is not a private key`);
  return key;
}

/** ssh2's generator now and then writes an Ed25519 key its own parser rejects (a public key of 31 bytes): draw again. */
export function generateHostKey(): { private: string; public: string } {
  for (let attempt = 0; ; attempt++) {
    const pair = ssh2.utils.generateKeyPairSync("ed25519", { comment: "sluice ssh host key" });
    const parsed = ssh2.utils.parseKey(pair.private);
    if (!(parsed instanceof Error) || attempt >= 20) return pair;
  }
}
