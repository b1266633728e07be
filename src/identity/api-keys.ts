import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { SluiceError } from "../errors.ts";
import { unauthenticated } from "./jwks.ts";

/**
 * Static API keys for agents, the alternative to OIDC. A key is 32 random bytes, shown once;
 * only HMAC-SHA256(pepper, key) is stored. HMAC rather than scrypt: the keys carry 256 bits of
 * entropy, so a slow hash adds nothing against guessing, would cost CPU on every connection, and
 * a leaked table of hashes is useless without the per-deployment pepper (kept as a secret, apart).
 */
export interface StoredApiKey {
  id: string;
  hash: string;
  subject: string;
  groups: string[];
  scope?: string[];
}

export interface ApiKeyIdentity {
  keyId: string;
  subject: string;
  groups: string[];
  scope?: string[];
}

const PREFIX = "sluice_";
const HASH_SCHEME = "hmac-sha256:";
const MIN_PEPPER_BYTES = 32;
// Longer input is not one of our keys; do not hash megabytes for it.
const MAX_KEY_LENGTH = 256;

/** A fresh key and its stored form: show `key` once, keep only `hash`. */
export function generateApiKey(pepper: string | Uint8Array): { key: string; hash: string } {
  const key = `${PREFIX}${randomBytes(32).toString("base64url")}`;
  return { key, hash: hashApiKey(key, pepper) };
}

/** `hmac-sha256:<base64url>` of the key under the deployment's pepper (at least 32 bytes). */
export function hashApiKey(key: string, pepper: string | Uint8Array): string {
  return `${HASH_SCHEME}${digest(key, pepper).toString("base64url")}`;
}

/** The identity of the stored key matching `presented`, compared in constant time against every entry. */
export function verifyApiKey(
  presented: string,
  stored: readonly StoredApiKey[],
  pepper: string | Uint8Array,
): ApiKeyIdentity {
  const candidate = digest(presented.length <= MAX_KEY_LENGTH ? presented : "", pepper);
  let match: StoredApiKey | undefined;
  // No early exit: the time taken does not depend on which entry (if any) matches.
  for (const entry of stored) {
    const expected = decodeHash(entry.hash);
    const equal = expected !== undefined && timingSafeEqual(expected, candidate);
    if (equal && match === undefined) match = entry;
  }
  if (!match || presented.length === 0 || presented.length > MAX_KEY_LENGTH) {
    throw unauthenticated("unknown_api_key");
  }
  return {
    keyId: match.id,
    subject: match.subject,
    groups: [...match.groups],
    ...(match.scope ? { scope: [...match.scope] } : {}),
  };
}

function digest(key: string, pepper: string | Uint8Array): Buffer {
  const bytes = typeof pepper === "string" ? Buffer.from(pepper, "utf8") : pepper;
  if (bytes.length < MIN_PEPPER_BYTES) {
    throw new SluiceError("CONFIG_INVALID", `the API key pepper must be at least ${MIN_PEPPER_BYTES} bytes`, {
      key: "pepper",
    });
  }
  return createHmac("sha256", bytes).update(key, "utf8").digest();
}

function decodeHash(hash: string): Buffer | undefined {
  if (!hash.startsWith(HASH_SCHEME)) return undefined;
  const bytes = Buffer.from(hash.slice(HASH_SCHEME.length), "base64url");
  return bytes.length === 32 ? bytes : undefined;
}
