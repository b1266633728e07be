import { decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from "jose";
import { SluiceError } from "../errors.ts";
import { fetchJson, JwksCache, unauthenticated } from "./jwks.ts";

export interface OidcVerifierOptions {
  /** Expected `iss`; discovery at `${issuer}/.well-known/openid-configuration`. */
  issuer: string;
  /** Expected `aud` (any one of them). */
  audience: string | string[];
  /** Allowed JWS algorithms; "none" and HS* are refused as a configuration error. */
  algorithms?: string[];
  /** Tolerance for exp / nbf / iat. */
  clockSkewSeconds?: number;
  /** Claim holding the groups; dotted paths reach into objects ("realm_access.roles"). */
  groupsClaim?: string;
  /** An unknown kid refetches the JWKS at most once per this interval. */
  jwksRefetchMinIntervalMs?: number;
  fetchTimeoutMs?: number;
  /** Cached keys older than this are refetched before use (fail closed if that fails). */
  jwksMaxAgeMs?: number;
  /** Test hook: the time tokens are checked against. */
  now?: () => Date;
}

export interface VerifiedIdentity {
  subject: string;
  issuer: string;
  groups: string[];
  expiresAt: Date;
  claims: Record<string, unknown>;
}

export const DEFAULT_ALGORITHMS = ["RS256", "ES256", "EdDSA", "PS256"];

interface Settings {
  issuer: string;
  audience: string | string[];
  algorithms: string[];
  clockSkewSeconds: number;
  groupsPath: string[];
  now: () => Date;
}

/** Verifies OIDC / OAuth JWTs (ID tokens or RFC 9068 access tokens) from one issuer. */
export class OidcVerifier {
  private constructor(
    private readonly settings: Settings,
    private readonly jwks: JwksCache,
  ) {}

  /** Reads the discovery document, checks its issuer, and loads the JWKS once (fails fast). */
  static async discover(options: OidcVerifierOptions): Promise<OidcVerifier> {
    const settings = validateOptions(options);
    const fetchTimeoutMs = options.fetchTimeoutMs ?? 5_000;
    const discoveryUrl = new URL(`${settings.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`);
    let document: unknown;
    try {
      document = await fetchJson(discoveryUrl, fetchTimeoutMs);
    } catch (error) {
      throw unauthenticated("issuer_unreachable", { issuer: settings.issuer }, error);
    }
    const { issuer, jwks_uri: jwksUri } = (document ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
    if (issuer !== settings.issuer) {
      throw new SluiceError(
        "CONFIG_INVALID",
        `OIDC discovery at ${discoveryUrl.href} names issuer ${JSON.stringify(issuer)}, not the configured ${JSON.stringify(settings.issuer)}`,
        { key: "issuer" },
      );
    }
    if (typeof jwksUri !== "string" || !URL.canParse(jwksUri)) {
      throw new SluiceError(
        "CONFIG_INVALID",
        `OIDC discovery at ${discoveryUrl.href} has no valid jwks_uri`,
        {
          key: "issuer",
        },
      );
    }
    const jwks = new JwksCache(requireSecureUrl(jwksUri, "jwks_uri"), {
      minRefetchIntervalMs: options.jwksRefetchMinIntervalMs ?? 30_000,
      fetchTimeoutMs,
      maxAgeMs: options.jwksMaxAgeMs ?? 600_000,
    });
    await jwks.refresh();
    return new OidcVerifier(settings, jwks);
  }

  async verify(token: string): Promise<VerifiedIdentity> {
    const { settings } = this;
    // Checked before any key lookup so alg confusion (HS256 with a public key, none) has its own reason.
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthenticated("malformed");
    }
    if (typeof alg !== "string" || !settings.algorithms.includes(alg))
      throw unauthenticated("alg_not_allowed");

    let payload: JWTPayload;
    const now = settings.now();
    try {
      ({ payload } = await jwtVerify(token, this.jwks.getKey, {
        issuer: settings.issuer,
        audience: settings.audience,
        algorithms: settings.algorithms,
        clockTolerance: settings.clockSkewSeconds,
        currentDate: now,
        requiredClaims: ["exp", "sub"],
      }));
    } catch (error) {
      throw refusal(error);
    }
    // jose checks iat only together with maxTokenAge; a token from the future is not valid yet.
    if (typeof payload.iat === "number" && payload.iat > now.getTime() / 1000 + settings.clockSkewSeconds) {
      throw unauthenticated("not_yet_valid");
    }
    if (typeof payload.sub !== "string" || payload.sub === "" || typeof payload.exp !== "number") {
      throw unauthenticated("malformed");
    }
    return {
      subject: payload.sub,
      issuer: settings.issuer,
      groups: readGroups(payload, settings.groupsPath),
      expiresAt: new Date(payload.exp * 1000),
      claims: payload as Record<string, unknown>,
    };
  }
}

function validateOptions(options: OidcVerifierOptions): Settings {
  requireSecureUrl(options.issuer, "issuer");
  const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS;
  const unsafe = algorithms.filter((alg) => alg.toLowerCase() === "none" || /^HS/i.test(alg));
  if (unsafe.length > 0 || algorithms.length === 0) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `OIDC algorithms must be a non-empty list of asymmetric JWS algorithms; refused: ${unsafe.join(", ") || "(empty list)"}`,
      { key: "algorithms" },
    );
  }
  const audiences = Array.isArray(options.audience) ? options.audience : [options.audience];
  if (audiences.length === 0 || audiences.some((aud) => typeof aud !== "string" || aud === "")) {
    throw new SluiceError("CONFIG_INVALID", "OIDC audience must be one or more non-empty strings", {
      key: "audience",
    });
  }
  const groupsPath = (options.groupsClaim ?? "groups").split(".");
  if (groupsPath.some((part) => part === "")) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `OIDC groupsClaim "${options.groupsClaim}" is not a dotted path`,
      {
        key: "groupsClaim",
      },
    );
  }
  return {
    issuer: options.issuer,
    audience: options.audience,
    algorithms: [...algorithms],
    clockSkewSeconds: options.clockSkewSeconds ?? 30,
    groupsPath,
    now: options.now ?? (() => new Date()),
  };
}

/** https only, except on loopback (tests, a local IdP). */
function requireSecureUrl(value: string, key: string): URL {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  const loopback = url && ["127.0.0.1", "[::1]", "localhost"].includes(url.hostname);
  if (!url || !(url.protocol === "https:" || (url.protocol === "http:" && loopback))) {
    throw new SluiceError("CONFIG_INVALID", `OIDC ${key} must be an https URL (http only on loopback)`, {
      key,
    });
  }
  return url;
}

/** Maps jose's errors onto our fixed reasons; anything unrecognised counts as malformed. */
function refusal(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  if (error instanceof errors.JWTExpired) return unauthenticated("expired");
  if (error instanceof errors.JWTClaimValidationFailed) {
    // A missing iss / aud is as wrong as a different one; a non-numeric nbf is malformed.
    if (error.claim === "iss" && error.reason !== "invalid") return unauthenticated("wrong_issuer");
    if (error.claim === "aud" && error.reason !== "invalid") return unauthenticated("wrong_audience");
    if (error.claim === "nbf" && error.reason === "check_failed") return unauthenticated("not_yet_valid");
    return unauthenticated("malformed", { claim: error.claim });
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return unauthenticated("alg_not_allowed");
  if (error instanceof errors.JWKSNoMatchingKey) return unauthenticated("unknown_key");
  if (error instanceof errors.JWSSignatureVerificationFailed) return unauthenticated("bad_signature");
  return unauthenticated("malformed");
}

/**
 * The groups claim: a top-level claim of exactly that name (namespaced URL claims contain dots),
 * else the dotted path. Absent → [], a string → [it], otherwise it must be an array of strings.
 */
function readGroups(payload: JWTPayload, path: string[]): string[] {
  const name = path.join(".");
  let value: unknown = payload;
  if (Object.hasOwn(payload, name)) {
    value = payload[name];
  } else {
    for (const part of path) {
      if (value === null || typeof value !== "object" || !Object.hasOwn(value, part)) return [];
      value = (value as Record<string, unknown>)[part];
    }
  }
  if (value === undefined || value === null) return [];
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.every((group) => typeof group === "string")) return [...value];
  throw unauthenticated("malformed", { claim: name });
}
