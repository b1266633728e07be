import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from "jose";
import { SluiceError } from "../errors.ts";

/** The gateway's Ed25519 key: it signs ledger seals (and, later, credentials and manifests). */
export interface SigningKey {
  keyId: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

/** Loads the private JWK at `file`, generating it (mode 0600, plus a `.pub.jwk` beside it) on first start. */
export async function loadOrCreateSigningKey(file: string): Promise<SigningKey> {
  if (!existsSync(file)) {
    const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    const jwk = await exportJWK(privateKey);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${JSON.stringify({ ...jwk, alg: "EdDSA" })}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(file, 0o600);
    const { d: _private, ...publicJwk } = jwk;
    writeFileSync(publicKeyFile(file), `${JSON.stringify({ ...publicJwk, alg: "EdDSA" })}\n`);
  }
  const jwk = readJwk(file);
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || !jwk.d) {
    throw new SluiceError("KEY_INVALID", `${file} is not an Ed25519 private JWK`);
  }
  const { d: _private, ...publicJwk } = jwk;
  return {
    keyId: await calculateJwkThumbprint(publicJwk),
    privateKey: (await importJWK(jwk, "EdDSA")) as CryptoKey,
    publicKey: (await importJWK(publicJwk, "EdDSA")) as CryptoKey,
    publicJwk,
  };
}

/** A verifier needs only the public half: from a `.pub.jwk` or a private JWK file. */
export async function loadVerificationKey(file: string): Promise<{ keyId: string; publicKey: CryptoKey }> {
  const { d: _private, ...publicJwk } = readJwk(file);
  if (publicJwk.kty !== "OKP" || publicJwk.crv !== "Ed25519") {
    throw new SluiceError("KEY_INVALID", `${file} is not an Ed25519 JWK`);
  }
  return {
    keyId: await calculateJwkThumbprint(publicJwk),
    publicKey: (await importJWK({ ...publicJwk, alg: "EdDSA" }, "EdDSA")) as CryptoKey,
  };
}

export function publicKeyFile(privateKeyFile: string): string {
  return privateKeyFile.replace(/(\.jwk)?$/, ".pub.jwk");
}

function readJwk(file: string): JWK {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as JWK;
  } catch (error) {
    throw new SluiceError("KEY_INVALID", `cannot read key ${file}: ${(error as Error).message}`);
  }
}
