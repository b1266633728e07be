import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload, SignJWT } from "jose";
import { LOOPBACK, withFreePort } from "./ports.ts";

/**
 * A real `oidc-provider` on a free loopback port. Tokens come from its token endpoint
 * (client_credentials + a resource indicator → RFC 9068 JWT access tokens, RS256).
 */
export interface OidcProviderOptions {
  /** The resource indicator the tokens are for; it becomes their `aud`. */
  audience?: string;
  /** Registered clients (a client_credentials token's `sub` is its client_id). */
  clientIds?: string[];
}

export interface MintOptions {
  clientId?: string;
  /** Extra claims the provider puts into the token (it will not override iss, sub, aud, exp, iat). */
  claims?: Record<string, unknown>;
  ttlSeconds?: number;
}

export interface RunningOidcProvider {
  issuer: string;
  audience: string;
  jwksPath: string;
  /** How many times the JWKS was fetched so far. */
  jwksRequests(): number;
  /** A real access token from the provider's token endpoint. */
  mintToken(options?: MintOptions): Promise<string>;
  /** Test-only: signs `payload` with the provider's current private key (for claims it never issues). */
  signWithProviderKey(payload: JWTPayload): Promise<string>;
  /** The provider's published public keys (what a verifier fetches). */
  publicJwks(): Promise<{ keys: JWK[] }>;
  /** New signing key; the old one stays published (for tokens in flight) unless `dropOld`. */
  rotateKeys(options?: { dropOld?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

const CLIENT_SECRET = "test-client-secret-that-is-long-enough";
type Handler = (req: IncomingMessage, res: ServerResponse) => void;
interface ProviderInstance {
  callback(): Handler;
}
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;

export async function startOidcProvider(options: OidcProviderOptions = {}): Promise<RunningOidcProvider> {
  const audience = options.audience ?? "https://sluice.test/api";
  const clientIds = options.clientIds ?? ["sluice-agent"];
  // oidc-provider ships no types; a non-literal specifier keeps tsc from looking for them.
  const specifier = "oidc-provider";
  const { Provider } = (await import(specifier)) as { Provider: ProviderClass };
  let keys: JWK[] = [await newSigningKey()];
  let handler: Handler = () => undefined;
  let jwksRequests = 0;

  const build = (issuer: string) => {
    const provider = new Provider(issuer, {
      clients: clientIds.map((client_id) => ({
        client_id,
        client_secret: CLIENT_SECRET,
        grant_types: ["client_credentials"],
        redirect_uris: [],
        response_types: [],
      })),
      jwks: { keys },
      cookies: { keys: ["test-cookie-key"] },
      ttl: {
        ClientCredentials: (ctx: { get(name: string): string }) => Number(ctx.get("x-test-ttl") || 300),
      },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => audience,
          getResourceServerInfo: (ctx: { get(name: string): string }) => ({
            scope: "api",
            audience,
            accessTokenFormat: "jwt",
            accessTokenTTL: Number(ctx.get("x-test-ttl") || 300),
            jwt: { sign: { alg: "RS256" } },
          }),
        },
      },
      // Per-request extra claims, passed by mintToken in a test-only header.
      extraTokenClaims: (ctx: { get(name: string): string }) => JSON.parse(ctx.get("x-test-claims") || "{}"),
    });
    handler = provider.callback();
  };

  const { server, issuer } = await withFreePort(async (port) => {
    const issuer = `http://${LOOPBACK}:${port}`;
    build(issuer);
    const server = createServer((req, res) => {
      if (req.url?.startsWith("/jwks")) jwksRequests++;
      handler(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, LOOPBACK, () => resolve());
    });
    return { server, issuer };
  });

  return {
    issuer,
    audience,
    jwksPath: "/jwks",
    jwksRequests: () => jwksRequests,
    async mintToken({ clientId = clientIds[0] ?? "", claims = {}, ttlSeconds = 300 } = {}) {
      const response = await fetch(`${issuer}/token`, {
        method: "POST",
        headers: {
          authorization: `Basic ${Buffer.from(`${clientId}:${CLIENT_SECRET}`).toString("base64")}`,
          "content-type": "application/x-www-form-urlencoded",
          "x-test-claims": JSON.stringify(claims),
          "x-test-ttl": String(ttlSeconds),
        },
        body: new URLSearchParams({ grant_type: "client_credentials", resource: audience, scope: "api" }),
      });
      const body = (await response.json()) as { access_token?: string };
      if (!response.ok || !body.access_token) {
        throw new Error(`token endpoint: HTTP ${response.status} ${JSON.stringify(body)}`);
      }
      return body.access_token;
    },
    async signWithProviderKey(payload) {
      const [jwk] = keys;
      if (!jwk) throw new Error("the provider has no key");
      return await new SignJWT(payload)
        .setProtectedHeader({ alg: "RS256", kid: jwk.kid, typ: "at+jwt" })
        .sign(await importJWK(jwk, "RS256"));
    },
    async publicJwks() {
      const response = await fetch(`${issuer}/jwks`);
      return (await response.json()) as { keys: JWK[] };
    },
    async rotateKeys({ dropOld = false } = {}) {
      // oidc-provider signs with the first matching key; the others stay in the published JWKS.
      keys = dropOld ? [await newSigningKey()] : [await newSigningKey(), ...keys];
      build(issuer);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function newSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true, modulusLength: 2048 });
  return { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: "RS256", use: "sig" };
}
