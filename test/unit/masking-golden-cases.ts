import { createHash } from "node:crypto";
import { CREDENTIAL_RULES } from "../../src/gate/masking/credential-rules.ts";
import {
  type ContentRule,
  DETECTOR_NAMES,
  type DetectorName,
  type MaskStrategy,
  type MaskTextOptions,
  maskText,
} from "../../src/gate/masking/index.ts";
import { benchCorpus, hostileCorpus, sshCorpus } from "./masking-corpus.ts";

/**
 * Masking runs whose results were recorded from the engine before its scans were prefiltered
 * (masking-golden.test.ts holds the digests): any change in what is masked shows up here.
 */

const strategies: MaskStrategy[] = [
  { kind: "redact" },
  { kind: "hash", salt: "s" },
  { kind: "partial", keepEnd: 2 },
];
const single = (detector: DetectorName): ContentRule[] => [
  { detector, strategy: { kind: "redact" }, rule: detector },
];
export const ALL_MIXED: ContentRule[] = DETECTOR_NAMES.map((detector, i) => ({
  detector,
  strategy: strategies[i % strategies.length] as MaskStrategy,
  rule: `mask-${detector}`,
}));
const ALL_REDACT: ContentRule[] = DETECTOR_NAMES.map((detector) => single(detector)[0] as ContentRule);
/** What the SSH port applies with bench/ssh's policy: the pii profile, then the credential detectors. */
export const SSH_RULES: ContentRule[] = [
  { detector: "email", strategy: { kind: "partial" }, rule: "pii/email" },
  { detector: "credit_card", strategy: { kind: "redact" }, rule: "pii/credit_card" },
  ...CREDENTIAL_RULES,
];

export interface GoldenCase {
  name: string;
  text: () => string;
  rules: ContentRule[];
  options?: MaskTextOptions;
}

const bench = () => benchCorpus(42).corpus(1024 * 1024, 30);
const hostile = (seed: number) => () => hostileCorpus(seed, 64 * 1024);

export const GOLDEN_CASES: GoldenCase[] = [
  { name: "bench corpus, every detector", text: bench, rules: ALL_MIXED },
  { name: "bench/ssh corpus, ssh rules", text: sshCorpus, rules: SSH_RULES },
  ...[1, 2, 3, 4, 5, 6].map((seed) => ({
    name: `hostile ${seed}, every detector`,
    text: hostile(seed),
    rules: seed % 2 === 0 ? ALL_REDACT : ALL_MIXED,
    options: { maxSecretLength: seed % 3 === 0 ? 4096 : 16384 },
  })),
  ...DETECTOR_NAMES.map((detector) => ({
    name: `hostile 100, ${detector} alone`,
    text: hostile(100),
    rules: single(detector),
  })),
];

/** sha256 of the masked text and the findings, plus the masked length to tell a size change at a glance. */
export function goldenDigest(c: GoldenCase): string {
  const { text, findings } = maskText(c.text(), c.rules, c.options);
  const hash = createHash("sha256").update(text).update(JSON.stringify(findings)).digest("hex");
  return `${text.length}:${hash.slice(0, 32)}`;
}
