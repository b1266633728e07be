import { createPublicKey, type JsonWebKey, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type CryptoKey,
  decodeProtectedHeader,
  generateKeyPair,
  type JWTPayload,
  SignJWT,
  UnsecuredJWT,
} from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSluiceError } from "../../src/errors.ts";
import { OidcVerifier, type OidcVerifierOptions } from "../../src/identity/oidc.ts";
import { type RunningOidcProvider, startOidcProvider } from "../support/oidc-provider.ts";
import { freePort } from "../support/ports.ts";

let idp: RunningOidcProvider;
let verifier: OidcVerifier;

beforeAll(async () => {
  idp = await startOidcProvider({ clientIds: ["agent-7", "alice"] });
  verifier = await discover();
});

afterAll(async () => {
  await idp?.stop();
});

function discover(options: Partial<OidcVerifierOptions> = {}): Promise<OidcVerifier> {
  return OidcVerifier.discover({ issuer: idp.issuer, audience: idp.audience, ...options });
}

/** The refusal's reason, after checking it is UNAUTHENTICATED and does not echo the token. */
async function refusal(promise: Promise<unknown>, token?: string): Promise<string> {
  const error = await promise.then(
    () => expect.unreachable("the token was accepted"),
    (error: unknown) => error,
  );
  if (!isSluiceError(error, "UNAUTHENTICATED")) throw error;
  for (const part of token?.split(".") ?? []) {
    if (part.length > 8) expect(error.message).not.toContain(part);
  }
  if (token) expect(JSON.stringify(error.details)).not.toContain(token);
  return String(error.details.reason);
}

/** A token signed by the provider's real key, for claims it would never issue. */
function providerSigned(claims: JWTPayload): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return idp.signWithProviderKey({
    iss: idp.issuer,
    aud: idp.audience,
    sub: "agent-7",
    iat: now,
    exp: now + 300,
    ...claims,
  });
}

let ownKey: Promise<CryptoKey> | undefined;

/** Signed with a key of our own (generated once), under any kid. */
async function forgedWithOwnKey(kid: string = randomUUID()): Promise<string> {
  ownKey ??= generateKeyPair("RS256").then(({ privateKey }) => privateKey);
  const privateKey = await ownKey;
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({ sub: "agent-7", groups: ["admin"] })
    .setProtectedHeader({ alg: "RS256", kid })
    .setIssuer(idp.issuer)
    .setAudience(idp.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(privateKey);
}

function replaceSegment(token: string, index: number, value: string): string {
  const parts = token.split(".");
  parts[index] = value;
  return parts.join(".");
}

describe("OidcVerifier against a real oidc-provider", () => {
  it("accepts a token issued by the provider, with subject, groups and expiry", async () => {
    const token = await idp.mintToken({ clientId: "alice", claims: { groups: ["dba", "oncall"] } });
    const identity = await verifier.verify(token);
    expect(identity.subject).toBe("alice");
    expect(identity.issuer).toBe(idp.issuer);
    expect(identity.groups).toEqual(["dba", "oncall"]);
    expect(identity.expiresAt.getTime()).toBeGreaterThan(Date.now() + 250_000);
    expect(identity.claims.client_id).toBe("alice");
  });

  it("reads groups from a custom claim: a dotted path or a namespaced name", async () => {
    const token = await idp.mintToken({
      claims: { realm_access: { roles: ["sre"] }, "https://sluice.test/groups": ["auditors"] },
    });
    const nested = await discover({ groupsClaim: "realm_access.roles" });
    expect((await nested.verify(token)).groups).toEqual(["sre"]);
    const namespaced = await discover({ groupsClaim: "https://sluice.test/groups" });
    expect((await namespaced.verify(token)).groups).toEqual(["auditors"]);
    expect((await verifier.verify(token)).groups).toEqual([]);
    const badGroups = await idp.mintToken({ claims: { groups: [1, 2] } });
    expect(await refusal(verifier.verify(badGroups), badGroups)).toBe("malformed");
  });

  it("refuses an expired token, within the configured clock skew only", async () => {
    const token = await idp.mintToken({ ttlSeconds: 60 });
    const later = (seconds: number) => discover({ now: () => new Date(Date.now() + seconds * 1000) });
    expect(await refusal((await later(60 + 31)).verify(token), token)).toBe("expired");
    await expect((await later(60 + 20)).verify(token)).resolves.toMatchObject({ subject: "agent-7" });
    const strict = await discover({ clockSkewSeconds: 0, now: () => new Date(Date.now() + 61_000) });
    expect(await refusal(strict.verify(token), token)).toBe("expired");
  });

  it("refuses a token that is not valid yet (nbf, or iat in the future)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const nbf = await providerSigned({ nbf: now + 120 });
    expect(await refusal(verifier.verify(nbf), nbf)).toBe("not_yet_valid");
    // A genuine token checked by a gateway whose clock is 2 minutes behind.
    const token = await idp.mintToken();
    const behind = await discover({ now: () => new Date(Date.now() - 120_000) });
    expect(await refusal(behind.verify(token), token)).toBe("not_yet_valid");
    await expect(verifier.verify(await providerSigned({ nbf: now + 20 }))).resolves.toBeDefined();
  });

  it("refuses a token from another issuer, even when signed with the trusted key", async () => {
    const token = await providerSigned({ iss: "https://idp.evil.example" });
    expect(await refusal(verifier.verify(token), token)).toBe("wrong_issuer");
    const none = await providerSigned({ iss: undefined });
    expect(await refusal(verifier.verify(none), none)).toBe("wrong_issuer");
  });

  it("refuses a token for another audience", async () => {
    const token = await idp.mintToken();
    const other = await discover({ audience: "https://other.test/api" });
    expect(await refusal(other.verify(token), token)).toBe("wrong_audience");
    const either = await discover({ audience: ["https://other.test/api", idp.audience] });
    await expect(either.verify(token)).resolves.toBeDefined();
  });

  it('refuses alg "none"', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = new UnsecuredJWT({ sub: "agent-7", groups: ["admin"] })
      .setIssuer(idp.issuer)
      .setAudience(idp.audience)
      .setExpirationTime(now + 300)
      .encode();
    expect(await refusal(verifier.verify(token), token)).toBe("alg_not_allowed");
  });

  it("refuses HS256 signed with the provider's public key (RS256→HS256 confusion)", async () => {
    const { keys } = await idp.publicJwks();
    const [jwk] = keys;
    if (!jwk) throw new Error("no published key");
    const pem = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }).export({
      type: "spki",
      format: "pem",
    });
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ sub: "agent-7", groups: ["admin"] })
      .setProtectedHeader({ alg: "HS256", kid: jwk.kid })
      .setIssuer(idp.issuer)
      .setAudience(idp.audience)
      .setExpirationTime(now + 300)
      .sign(new TextEncoder().encode(pem.toString()));
    expect(await refusal(verifier.verify(token), token)).toBe("alg_not_allowed");
  });

  it("refuses an allowed-list with none or HMAC as a configuration error", async () => {
    for (const algorithms of [["RS256", "HS256"], ["none"], ["hs512"], []]) {
      await expect(discover({ algorithms })).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    }
    const token = await idp.mintToken();
    const esOnly = await discover({ algorithms: ["ES256"] });
    expect(await refusal(esOnly.verify(token), token)).toBe("alg_not_allowed");
  });

  it("refuses a token signed with a key the provider does not publish", async () => {
    const token = await forgedWithOwnKey();
    expect(await refusal(verifier.verify(token), token)).toBe("unknown_key");
    // Claiming the provider's kid does not help: the signature is checked with the real key.
    const { kid } = decodeProtectedHeader(await idp.mintToken());
    const impostor = await forgedWithOwnKey(kid);
    expect(await refusal(verifier.verify(impostor), impostor)).toBe("bad_signature");
  });

  it("refuses a tampered payload and a tampered signature", async () => {
    const token = await idp.mintToken({ claims: { groups: ["readonly"] } });
    const [, payload = "", signature = ""] = token.split(".");
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    const elevated = Buffer.from(JSON.stringify({ ...claims, groups: ["admin"] })).toString("base64url");
    const tamperedPayload = replaceSegment(token, 1, elevated);
    expect(await refusal(verifier.verify(tamperedPayload), tamperedPayload)).toBe("bad_signature");
    const middle = Math.floor(signature.length / 2);
    const flipped = `${signature.slice(0, middle)}${signature[middle] === "A" ? "B" : "A"}${signature.slice(middle + 1)}`;
    const tamperedSignature = replaceSegment(token, 2, flipped);
    expect(await refusal(verifier.verify(tamperedSignature), tamperedSignature)).toBe("bad_signature");
    const stripped = replaceSegment(token, 2, "");
    expect(await refusal(verifier.verify(stripped), stripped)).toBe("bad_signature");
  });

  it("refuses malformed input without echoing it", async () => {
    for (const token of ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.!!!.x"]) {
      expect(await refusal(verifier.verify(token), token)).toMatch(/^(malformed|bad_signature)$/);
    }
    expect(await refusal(verifier.verify("not-a-jwt"))).toBe("malformed");
  });

  it("fails discovery when the document names another issuer", async () => {
    await expect(discover({ issuer: `${idp.issuer}/` })).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    await expect(discover({ issuer: "http://idp.example.test" })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
    });
  });
});

describe("JWKS cache", () => {
  it("picks up key rotation at the provider, old and new keys, and drops retired keys", async () => {
    const rotating = await startOidcProvider();
    try {
      const verifier = await OidcVerifier.discover({
        issuer: rotating.issuer,
        audience: rotating.audience,
        jwksRefetchMinIntervalMs: 0,
      });
      const before = await rotating.mintToken();
      await verifier.verify(before);
      await rotating.rotateKeys();
      const after = await rotating.mintToken();
      expect(decodeProtectedHeader(after).kid).not.toBe(decodeProtectedHeader(before).kid);
      await expect(verifier.verify(after)).resolves.toMatchObject({ subject: "sluice-agent" });
      await expect(verifier.verify(before)).resolves.toMatchObject({ subject: "sluice-agent" });
      expect(rotating.jwksRequests()).toBe(2);

      await rotating.rotateKeys({ dropOld: true });
      const latest = await rotating.mintToken();
      await expect(verifier.verify(latest)).resolves.toBeDefined();
      expect(await refusal(verifier.verify(before), before)).toBe("unknown_key");
    } finally {
      await rotating.stop();
    }
  });

  it("rate-limits refetches on unknown kids (a flood causes at most one fetch)", async () => {
    const counted = await startOidcProvider();
    const forged = await Promise.all(Array.from({ length: 10 }, () => forgedWithOwnKey()));
    try {
      const verifier = await OidcVerifier.discover({
        issuer: counted.issuer,
        audience: counted.audience,
        jwksRefetchMinIntervalMs: 1_000,
      });
      expect(counted.jwksRequests()).toBe(1);
      await counted.rotateKeys();
      const rotated = await counted.mintToken();
      // Within the interval after the last fetch nothing is fetched, not even for a genuinely new key.
      for (const token of [...forged, rotated])
        expect(await refusal(verifier.verify(token))).toBe("unknown_key");
      expect(counted.jwksRequests()).toBe(1);
      await sleep(1_050);
      // A concurrent flood once the interval has passed: exactly one refetch, shared by all.
      const results = await Promise.allSettled(
        [...forged, rotated, ...forged].map((t) => verifier.verify(t)),
      );
      expect(results.map((result) => result.status)).toEqual([
        ...forged.map(() => "rejected"),
        "fulfilled",
        ...forged.map(() => "rejected"),
      ]);
      for (const token of forged) expect(await refusal(verifier.verify(token))).toBe("unknown_key");
      expect(counted.jwksRequests()).toBe(2);
    } finally {
      await counted.stop();
    }
  });

  it("reports an unreachable issuer, at discovery and on a refetch", async () => {
    const port = await freePort();
    const unreachable = OidcVerifier.discover({
      issuer: `http://127.0.0.1:${port}`,
      audience: "x",
      fetchTimeoutMs: 1_000,
    });
    expect(await refusal(unreachable)).toBe("issuer_unreachable");

    const doomed = await startOidcProvider();
    try {
      const verifier = await OidcVerifier.discover({
        issuer: doomed.issuer,
        audience: doomed.audience,
        jwksRefetchMinIntervalMs: 0,
        fetchTimeoutMs: 1_000,
      });
      const cached = await doomed.mintToken();
      await doomed.rotateKeys();
      const rotated = await doomed.mintToken();
      await doomed.stop();
      // Keys already cached still verify; a kid that needs a fetch cannot be checked.
      await expect(verifier.verify(cached)).resolves.toBeDefined();
      expect(await refusal(verifier.verify(rotated), rotated)).toBe("issuer_unreachable");
    } finally {
      await doomed.stop();
    }
  });
});
