import { describe, expect, it } from "vitest";
import { DETECTOR_NAMES, MIN_SECRET_LIMIT, scannersFor } from "../../src/gate/masking/detectors.ts";
import { Subject } from "../../src/gate/masking/prefilter.ts";
import type { Span } from "../../src/gate/masking/types.ts";
import { benchCorpus, hostileCorpus, random, sshCorpus } from "./masking-corpus.ts";

/**
 * Each detector looks only where its prefilter points (prefilter.ts). Here every scanner's
 * prefiltered scan must find exactly the matches of its plain scan of the whole text (the
 * detector's regex run over every position), from the start and from offsets in between.
 */

const bytes = (text: string) => Buffer.from(text, "utf8").toString("latin1");
const TEXTS: [string, string][] = [
  ["bench corpus", benchCorpus(42).corpus(256 * 1024, 30)],
  ["bench/ssh corpus", sshCorpus().slice(0, 256 * 1024)],
  ...[7, 8, 9, 10].map((seed): [string, string] => [
    `hostile ${seed}`,
    bytes(hostileCorpus(seed, 96 * 1024)),
  ]),
];

/** Matches at the very start of a text and at the bounds the finders rely on. */
const EDGES: string[] = [
  `https://${"u".repeat(128)}:${"p".repeat(256)}@host/`,
  `https://${"u".repeat(128)}:${"p".repeat(257)}@host/`,
  `x://${"u".repeat(129)}:p@h`,
  "redis://:pw@cache redis://:p@w@cache a://:@b",
  "4111 1111 1111 1111",
  "4111111111111111",
  "3782 822463 10005",
  "078-05-1120",
  "(212) 555-0199",
  "1 (212) 555-0199",
  "1-800-555-0199",
  "212.555.0199",
  "+1 415-555-2671",
  "DE89 3704 0044 0532 0130 00",
  "GB82WEST12345698765432",
  "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
  `github_pat_${"1".repeat(22)}_${"x".repeat(59)}`,
  "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
  "AKIAIOSFODNN7EXAMPLE",
  "AIzaSyD4dI0hCZtE6vySjMm-WEfRq3CPzqKq_xy",
  "glpat-aB3dE5fG7hJ9kL1mN3pQ",
  "xoxb-1234567890-abc",
  "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
  "BeArEr 9f8e7d6c5b4a3928 SECRET=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  "PASSWORD=x pWd=y AccountKey=abc== sharedaccesssignature=sv",
  '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE\\n"',
  "a@b.co",
  `${"7".repeat(40)} 4111 1111 1111 1111 ${"2".repeat(9)}-55-0199 ${"3".repeat(12)}.555.0199`,
  `4111111111111111${"0".repeat(30)} 41111111 11111111`,
];

function spans(run: (out: Span[]) => void): Span[] {
  const out: Span[] = [];
  run(out);
  return out;
}

describe("prefiltered scans", () => {
  for (const limit of [MIN_SECRET_LIMIT, 16 * 1024]) {
    it.each(DETECTOR_NAMES)(`%s finds what a plain scan finds (limit ${limit})`, (name) => {
      const rand = random(limit + name.length);
      for (const [label, text] of TEXTS) {
        const subject = new Subject(text);
        for (const scanner of scannersFor(name, limit)) {
          for (const from of [0, 1, rand(text.length), rand(text.length), text.length - 100]) {
            const fast = spans((out) => scanner.scan(subject, from, out));
            const plain = spans((out) => scanner.reference(text, from, out));
            if (JSON.stringify(fast) !== JSON.stringify(plain))
              expect(fast, `${label}, from ${from}`).toEqual(plain);
          }
        }
      }
    });
  }

  it("finds what a plain scan finds at the start of a text and at the finders' bounds", () => {
    for (const name of DETECTOR_NAMES) {
      for (const scanner of scannersFor(name, 16 * 1024)) {
        for (const text of EDGES) {
          const fast = spans((out) => scanner.scan(new Subject(text), 0, out));
          expect(fast, `${name}: ${text}`).toEqual(spans((out) => scanner.reference(text, 0, out)));
        }
      }
    }
    const url = scannersFor("url_password", 16 * 1024)[0];
    expect(spans((out) => url?.scan(new Subject(EDGES[0] as string), 0, out))).toHaveLength(1);
  });

  it("finds matches in every corpus (the comparison is not empty)", () => {
    const total = (text: string) =>
      DETECTOR_NAMES.flatMap((name) => scannersFor(name, 16 * 1024)).reduce(
        (n, scanner) => n + spans((out) => scanner.reference(text, 0, out)).length,
        0,
      );
    for (const [label, text] of TEXTS) expect(total(text), label).toBeGreaterThan(50);
  });
});
