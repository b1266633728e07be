import { createHash } from "node:crypto";
import { type CryptoKey, jwtVerify, SignJWT } from "jose";
import { SluiceError } from "../errors.ts";

/**
 * Gateway credentials are JWTs signed with the gateway's Ed25519 key, scoped to one target,
 * access level and task. Only their id and SHA-256 ever enter the log.
 */

const ISSUER = "sluice";
const AUDIENCE = "sluice-gateway";

export interface CredentialClaims {
  credentialId: string;
  subject: string;
  groups: string[];
  target: string;
  access: string;
  taskId: string;
  expiresAt: Date;
}

export async function mintCredentialToken(
  key: { keyId: string; privateKey: CryptoKey },
  claims: CredentialClaims,
  now: Date,
): Promise<string> {
  return new SignJWT({
    groups: claims.groups,
    target: claims.target,
    access: claims.access,
    task: claims.taskId,
  })
    .setProtectedHeader({ alg: "EdDSA", kid: key.keyId, typ: "sluice-credential+jwt" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(claims.subject)
    .setJti(claims.credentialId)
    .setIssuedAt(Math.floor(now.getTime() / 1000))
    .setExpirationTime(Math.floor(claims.expiresAt.getTime() / 1000))
    .sign(key.privateKey);
}

/** Checks signature, issuer, audience and expiry; whether it was revoked is the ledger's to say. */
export async function verifyCredentialToken(
  publicKey: CryptoKey,
  token: string,
  now: Date,
): Promise<CredentialClaims> {
  try {
    const { payload } = await jwtVerify(token, publicKey, {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ["EdDSA"],
      typ: "sluice-credential+jwt",
      currentDate: now,
    });
    return {
      credentialId: String(payload.jti),
      subject: String(payload.sub),
      groups: Array.isArray(payload.groups) ? payload.groups.map(String) : [],
      target: String(payload.target),
      access: String(payload.access),
      taskId: String(payload.task),
      expiresAt: new Date((payload.exp ?? 0) * 1000),
    };
  } catch (error) {
    const reason = (error as { code?: string }).code === "ERR_JWT_EXPIRED" ? "expired" : "invalid";
    throw new SluiceError("UNAUTHENTICATED", `gateway credential refused: ${reason}`, { reason });
  }
}

/** Does this look like a gateway credential (rather than an OIDC token)? Decided by the header, unverified. */
export function isGatewayCredential(token: string): boolean {
  try {
    const header = JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8"));
    return header?.typ === "sluice-credential+jwt";
  } catch {
    return false;
  }
}

export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
