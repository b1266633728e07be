import {
  type CryptoKey,
  createLocalJWKSet,
  errors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from "jose";
import { SluiceError } from "../errors.ts";

/** Why a token was refused; `details.reason` of every UNAUTHENTICATED error from identity. */
export type UnauthenticatedReason =
  | "expired"
  | "not_yet_valid"
  | "wrong_issuer"
  | "wrong_audience"
  | "alg_not_allowed"
  | "unknown_key"
  | "bad_signature"
  | "malformed"
  | "issuer_unreachable"
  | "unknown_api_key";

const MESSAGES: Record<UnauthenticatedReason, string> = {
  expired: "token refused: it has expired",
  not_yet_valid: "token refused: it is not valid yet (nbf or iat in the future)",
  wrong_issuer: "token refused: it was issued by another issuer",
  wrong_audience: "token refused: it is not meant for this audience",
  alg_not_allowed: "token refused: its signature algorithm is not allowed",
  unknown_key: "token refused: it is signed with a key the issuer does not publish",
  bad_signature: "token refused: its signature does not verify",
  malformed: "token refused: it is malformed",
  issuer_unreachable: "token refused: the issuer's keys could not be fetched",
  unknown_api_key: "API key refused: it matches no known key",
};

/** The one way identity code refuses: fixed message per reason, never any part of the credential. */
export function unauthenticated(
  reason: UnauthenticatedReason,
  details: Record<string, unknown> = {},
  cause?: unknown,
): SluiceError {
  return new SluiceError(
    "UNAUTHENTICATED",
    MESSAGES[reason],
    { reason, ...details },
    cause === undefined ? undefined : { cause },
  );
}

export interface JwksCacheOptions {
  /** At most one fetch (successful or not) per this interval, except the very first. */
  minRefetchIntervalMs: number;
  fetchTimeoutMs: number;
  /** Keys older than this are refetched before use; if that fails, verification fails closed. */
  maxAgeMs: number;
}

type LocalSet = ReturnType<typeof createLocalJWKSet>;

/**
 * The issuer's JWKS, cached. Our own cache rather than jose's createRemoteJWKSet because that one
 * rate-limits only after a *successful* fetch: with the issuer down, every unknown kid would fetch.
 */
export class JwksCache {
  private local: LocalSet | undefined;
  private fetchedAt = 0;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private lastError: unknown;
  private pending: Promise<void> | undefined;

  constructor(
    readonly uri: URL,
    private readonly options: JwksCacheOptions,
  ) {}

  /** jose's `getKey` callback for jwtVerify. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    if (!this.local || Date.now() - this.fetchedAt > this.options.maxAgeMs) await this.refresh();
    try {
      return await this.select(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // An unknown kid may be a freshly rotated key: one refetch, unless one ran too recently.
      if (!this.pending && !this.mayFetch()) throw unauthenticated("unknown_key");
      await this.refresh();
      return await this.select(header, token);
    }
  };

  /** Fetches now (joining a fetch in flight); throws issuer_unreachable when the fetch fails. */
  async refresh(): Promise<void> {
    if (!this.pending) {
      if (!this.mayFetch()) {
        throw unauthenticated("issuer_unreachable", { jwksUri: this.uri.href }, this.lastError);
      }
      this.lastAttemptAt = Date.now();
      this.pending = this.load().finally(() => {
        this.pending = undefined;
      });
    }
    await this.pending;
  }

  private mayFetch(): boolean {
    return Date.now() - this.lastAttemptAt >= this.options.minRefetchIntervalMs;
  }

  private async load(): Promise<void> {
    try {
      const jwks = await fetchJson(this.uri, this.options.fetchTimeoutMs);
      this.local = createLocalJWKSet(jwks as JSONWebKeySet);
      this.fetchedAt = Date.now();
      this.lastError = undefined;
    } catch (error) {
      this.lastError = error;
      throw unauthenticated("issuer_unreachable", { jwksUri: this.uri.href }, error);
    }
  }

  private async select(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    if (!this.local) throw unauthenticated("issuer_unreachable", { jwksUri: this.uri.href }, this.lastError);
    try {
      return await this.local(header, token);
    } catch (error) {
      // Several keys fit a token without a kid: refuse rather than try each one.
      if (error instanceof errors.JWKSMultipleMatchingKeys) throw unauthenticated("unknown_key");
      throw error;
    }
  }
}

/** GET a JSON document: no redirects, bounded time, 200 only. */
export async function fetchJson(url: URL, timeoutMs: number): Promise<unknown> {
  const response = await fetch(url, {
    redirect: "error",
    signal: AbortSignal.timeout(timeoutMs),
    headers: { accept: "application/json, application/jwk-set+json" },
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`GET ${url.href} answered HTTP ${response.status}`);
  }
  return await response.json();
}
