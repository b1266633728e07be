import { CompactSign, type CryptoKey, compactVerify } from "jose";
import { canonical } from "./chain.ts";

/**
 * Signed records beside seals (removal events, export manifests): the gateway's Ed25519 key
 * signs the RFC 8785 canonical JSON of every field but `keyId` and `signature`, as a compact JWS.
 */

export interface SigningKeyRef {
  keyId: string;
  privateKey: CryptoKey;
}

export type Signed<T> = T & { keyId: string; signature: string };

export async function signCanonical<T extends object>(payload: T, key: SigningKeyRef): Promise<Signed<T>> {
  const signature = await new CompactSign(new TextEncoder().encode(canonical(payload)))
    .setProtectedHeader({ alg: "EdDSA", kid: key.keyId })
    .sign(key.privateKey);
  return { ...payload, keyId: key.keyId, signature };
}

/** Null when the signature is valid and signs exactly the record's other fields; else the reason. */
export async function checkCanonicalSignature(
  record: { keyId?: unknown; signature?: unknown },
  publicKey: CryptoKey,
): Promise<string | null> {
  const { keyId: _keyId, signature, ...payload } = record;
  if (typeof signature !== "string") return "it carries no signature";
  try {
    const { payload: signed } = await compactVerify(signature, publicKey, { algorithms: ["EdDSA"] });
    if (new TextDecoder().decode(signed) !== canonical(payload))
      return "the signature covers different fields";
    return null;
  } catch (error) {
    return `the signature does not verify (${(error as Error).message})`;
  }
}
