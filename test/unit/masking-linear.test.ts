import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import {
  type ContentRule,
  DETECTOR_NAMES,
  type DetectorName,
  MaskingStream,
  maskText,
} from "../../src/gate/masking/index.ts";

/**
 * Complexity checks, not speed assertions: on hostile input, 4x the text must take about 4x
 * the time. A super-linear detector shows up as 16x or worse; the bound is 8x of the fastest
 * of several runs, plus 25 ms so a GC pause or timer noise on tiny times cannot fail it.
 */

const KiB = 1024;
const SMALL = 256 * KiB;
const LARGE = 1024 * KiB;

/** Inputs built to make each detector try, and fail, as often as possible. */
const HOSTILE: Record<DetectorName, string[]> = {
  email: ["a@", "a@a.", "x@y.co", `${"a".repeat(63)}@`, "é@"],
  jwt: ["eyJ", "eyJa.", "eyJhbGciOiJIUzI1NiJ9."],
  bearer_token: ["bearer ", "Bearer a1", "bearer"],
  aws_access_key_id: ["AKIA", "AKIAAAAAAAAAAAAAAAA"],
  aws_secret_access_key: ["aws ", `secret ${"A1".repeat(20)}/`, "A"],
  gcp_api_key: ["AIza", "AIzaA"],
  gcp_service_account_key: ['"private_key":"', '"private_key": "\\\\'],
  azure_storage_key: ["A==", "==", `${"A".repeat(85)}==`],
  azure_connection_string: ["AccountKey=", "AccountKey=a;"],
  github_token: ["ghp_", "github_pat_", "g"],
  gitlab_token: ["glpat-", "glpat-."],
  slack_token: ["xoxb-", "xoxb-1"],
  private_key_pem: ["-----BEGIN ", "-----BEGIN PRIVATE KEY-----\n", "-----END ", "-----BEGIN RSA "],
  url_password: ["://:", "://a:b", "a://", "password=", "pwd='", "password=a@"],
  credit_card: ["4", "4 ", "4-", "4111 "],
  iban: ["DE89 ", "DE", "DE8"],
  us_ssn: ["123-45-", "1-"],
  phone: ["+1 ", "+", "(212) ", "1-", "+1(2"],
};

const rule = (detector: DetectorName): ContentRule => ({
  detector,
  strategy: { kind: "redact" },
  rule: detector,
});
const ALL = DETECTOR_NAMES.map(rule);
const fill = (pattern: string, size: number) =>
  pattern.repeat(Math.ceil(size / pattern.length)).slice(0, size);

function fastest(runs: number, work: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    work();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

function expectLinear(pattern: string, rules: ContentRule[], runs = 5): void {
  const small = fill(pattern, SMALL);
  const large = fill(pattern, LARGE);
  const tSmall = fastest(runs, () => maskText(small, rules));
  const tLarge = fastest(runs, () => maskText(large, rules));
  expect(
    tLarge,
    `${JSON.stringify(pattern)}: ${tSmall.toFixed(1)} ms → ${tLarge.toFixed(1)} ms`,
  ).toBeLessThan(8 * tSmall + 10);
}

describe("linear time on hostile input", () => {
  it.each(DETECTOR_NAMES)("%s", (detector) => {
    for (const pattern of HOSTILE[detector]) expectLinear(pattern, [rule(detector)]);
  });

  it("maskText with every rule", () => {
    const patterns = new Set(Object.values(HOSTILE).flatMap((list) => list.slice(0, 2)));
    for (const pattern of patterns) expectLinear(pattern, ALL, 3);
  });

  it("MaskingStream with every rule", async () => {
    const stream = async (text: string) => {
      const started = performance.now();
      const bytes = Buffer.from(text);
      const chunks = Array.from({ length: Math.ceil(bytes.length / (16 * KiB)) }, (_, i) =>
        bytes.subarray(i * 16 * KiB, (i + 1) * 16 * KiB),
      );
      const sink = new Writable({ write: (_data, _encoding, done) => done() });
      await pipeline(Readable.from(chunks), new MaskingStream(ALL), sink);
      return performance.now() - started;
    };
    for (const pattern of ["a@", "eyJa.", "-----BEGIN PRIVATE KEY-----\n", "A", "4 ", "://a:b", "bearer "]) {
      const tSmall = Math.min(await stream(fill(pattern, SMALL)), await stream(fill(pattern, SMALL)));
      const tLarge = Math.min(await stream(fill(pattern, LARGE)), await stream(fill(pattern, LARGE)));
      expect(
        tLarge,
        `${JSON.stringify(pattern)}: ${tSmall.toFixed(1)} → ${tLarge.toFixed(1)} ms`,
      ).toBeLessThan(8 * tSmall + 10);
    }
  });
});
