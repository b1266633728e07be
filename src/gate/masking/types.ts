import type { Subject } from "./prefilter.ts";

/**
 * The vocabulary of the masking engine: which detectors exist, how a match is masked, and
 * what a masking pass reports. Policy masking profiles are written in these terms.
 */

export type DetectorName =
  | "email"
  | "jwt"
  | "bearer_token"
  | "aws_access_key_id"
  | "aws_secret_access_key"
  | "gcp_api_key"
  | "gcp_service_account_key"
  | "azure_storage_key"
  | "azure_connection_string"
  | "github_token"
  | "gitlab_token"
  | "slack_token"
  | "private_key_pem"
  | "url_password"
  | "credit_card"
  | "iban"
  | "us_ssn"
  | "phone";

export type MaskStrategy =
  /** Replaced by `«redacted:<detector>»` (a whole value: `«redacted»`). */
  | { kind: "redact" }
  /** Keeps `keepStart`/`keepEnd` characters (default 0 and 4), the rest becomes `*`; at least half is always masked. */
  | { kind: "partial"; keepStart?: number; keepEnd?: number }
  /** `«hash:<first 16 hex of HMAC-SHA256(salt, value)>»`: equal values correlate without being revealed. */
  | { kind: "hash"; salt: string }
  /** A whole value becomes null; inside running text it behaves like redact. */
  | { kind: "null" };

export interface ContentRule {
  detector: DetectorName;
  strategy: MaskStrategy;
  /** The policy rule's name, for the record. */
  rule: string;
}

export interface MaskFinding {
  detector: DetectorName;
  rule: string;
  /** How many masked regions this rule produced (overlapping matches count once, see spans.ts). */
  count: number;
}

/** One match of a detector, as offsets in the scanned text (one character per byte, see TextForm). */
export interface Span {
  /** Where the detector's attempt began (for streaming finality); `at <= start`. */
  at: number;
  /** The masked region. */
  start: number;
  end: number;
  /** Where the detector's scan continues after this match. */
  resume: number;
}

/**
 * A scanner finds one kind of secret (a detector may use several, e.g. URLs and `password=`).
 * It runs in time linear in the text (bounded repetitions only, attempts anchored where a
 * token can start) and never reads more than CONTEXT characters before an attempt's start nor
 * more than `reach` characters after it.
 */
export interface Scanner {
  readonly name: DetectorName;
  readonly reach: number;
  /**
   * Appends, in order, every match whose attempt starts at or after `from`, trying only where
   * the detector's prefilter points (prefilter.ts).
   */
  scan(subject: Subject, from: number, out: Span[]): void;
  /** The same matches by a plain scan of the whole text: what the tests hold `scan` to. */
  reference(text: string, from: number, out: Span[]): void;
  /**
   * For streaming: a position such that every attempt starting before it is decided by `text`
   * alone (appending text cannot change it). At least `text.length - reach`.
   */
  pendingFrom(subject: Subject): number;
}

/**
 * Detectors always scan one character per byte of UTF-8: a stream's bytes read as latin1 (so
 * any byte passes through untouched), or a JS string that is pure ASCII. maskText converts a
 * string with other characters to that form first, so every bound counts bytes and a stream
 * gives exactly the result of maskText on the whole text. `TextForm` says which form a masked
 * value is in when its replacement is rendered.
 */
export type TextForm = "string" | "bytes";

/** Characters any detector may look back before an attempt (URL and AWS context checks). */
export const CONTEXT = 512;

/** Default bound on the longest secret (PEM blocks, JWTs, bearer tokens), in bytes. */
export const DEFAULT_MAX_SECRET = 16 * 1024;
