import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { exportJWK, generateKeyPair, SignJWT } from "jose";

export interface DemoIssuer {
  url: string;
  audience: string;
  /** A signed token for a demo identity, valid for the demo's lifetime. */
  mint(subject: string, groups: string[]): Promise<string>;
  close(): Promise<void>;
}

/**
 * A minimal OpenID issuer for `sluice demo` only (discovery + JWKS on loopback), so the demo's
 * agent, approver and auditor sign in through the same OIDC verification a deployment uses.
 * Deployments point `identity.oidc` at their real identity provider.
 */
export async function startDemoIssuer(audience = "sluice-demo"): Promise<DemoIssuer> {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  let url = "";
  const server = createServer((request, response) => {
    const body =
      request.url === "/.well-known/openid-configuration"
        ? { issuer: url, jwks_uri: `${url}/jwks`, id_token_signing_alg_values_supported: ["ES256"] }
        : request.url === "/jwks"
          ? { keys: [jwk] }
          : null;
    response.writeHead(body ? 200 : 404, { "content-type": "application/json" });
    response.end(JSON.stringify(body ?? { error: "not found" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  return {
    url,
    audience,
    mint: (subject, groups) =>
      new SignJWT({ groups })
        .setProtectedHeader({ alg: "ES256", kid })
        .setIssuer(url)
        .setAudience(audience)
        .setSubject(subject)
        .setIssuedAt()
        .setExpirationTime("12h")
        .sign(privateKey),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
