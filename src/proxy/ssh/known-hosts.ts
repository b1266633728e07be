import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { SluiceError } from "../../errors.ts";

/**
 * Upstream host key verification against OpenSSH known_hosts lines: `patterns keytype base64`,
 * patterns comma-separated with `*`/`?` wildcards and `!` negation, `[host]:port` for other
 * ports than 22, hashed names (`|1|salt|hash`) and `@revoked` markers. A key that no line
 * names for this host is refused; `@cert-authority` lines are not supported and never match.
 */

export interface KnownHostEntry {
  marker: "revoked" | "cert-authority" | null;
  patterns: string[];
  keyType: string;
  /** The key blob, base64 as written. */
  key: string;
}

export type HostKeyCheck = { ok: true } | { ok: false; reason: string };

export function parseKnownHosts(lines: string[]): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry["marker"] = null;
    if (fields[0]?.startsWith("@")) {
      const name = fields.shift()?.slice(1);
      if (name !== "revoked" && name !== "cert-authority")
        throw new SluiceError("CONFIG_INVALID", `known_hosts: unknown marker @${name}`);
      marker = name;
    }
    const [patterns, keyType, key] = fields;
    if (!patterns || !keyType || !key || !/^[A-Za-z0-9+/]+=*$/.test(key))
      throw new SluiceError("CONFIG_INVALID", `known_hosts: cannot read the line "${line.slice(0, 80)}"`);
    entries.push({ marker, patterns: patterns.split(","), keyType, key });
  }
  return entries;
}

/** The lines of a target's `knownHosts`: given inline or read from a file. */
export function knownHostsLines(source: string[] | { file: string }): string[] {
  if (Array.isArray(source)) return source;
  try {
    return readFileSync(source.file, "utf8").split("\n");
  } catch (error) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `cannot read known_hosts ${source.file}: ${(error as Error).message}`,
    );
  }
}

/** Is `keyBlob` (the SSH wire encoding of the host's public key) accepted for host:port? */
export function checkHostKey(
  entries: KnownHostEntry[],
  host: string,
  port: number,
  keyBlob: Buffer,
): HostKeyCheck {
  const name = port === 22 ? host : `[${host}]:${port}`;
  const key = keyBlob.toString("base64");
  const forHost = entries.filter((entry) => hostMatches(entry.patterns, name));
  if (forHost.some((entry) => entry.marker === "revoked" && entry.key === key))
    return { ok: false, reason: `the host key of ${name} is marked @revoked` };
  if (forHost.some((entry) => entry.marker === null && entry.key === key)) return { ok: true };
  const known = forHost.some((entry) => entry.marker === null);
  return {
    ok: false,
    reason: known
      ? `the host key of ${name} does not match knownHosts (possible man-in-the-middle)`
      : `no knownHosts entry for ${name}: unknown host keys are refused`,
  };
}

function hostMatches(patterns: string[], name: string): boolean {
  let matched = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith("!");
    const body = negated ? pattern.slice(1) : pattern;
    if (!patternMatches(body, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith("|1|")) {
    const [, , salt, hash] = pattern.split("|");
    if (!salt || !hash) return false;
    return createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64") === hash;
  }
  if (!/[*?]/.test(pattern)) return pattern.toLowerCase() === name.toLowerCase();
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${source}$`, "i").test(name);
}
