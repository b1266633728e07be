import { randomBytes } from "node:crypto";
import { resolveSecret } from "../../config/secret-ref.ts";
import type { PolicySnapshot } from "../../domain/policy/decide.ts";
import type { MaskingProfile, PolicyDocument } from "../../domain/policy/document.ts";
import { CREDENTIAL_RULES } from "../../gate/masking/credential-rules.ts";
import { type ContentRule, type MaskStrategy, maskValue } from "../../gate/masking/index.ts";
import { compileProfile } from "../../gate/masking/profile.ts";
import type { JsonPathRule } from "./json-masker.ts";
import { compileJsonPath } from "./json-path.ts";

/**
 * What is masked in one response, for the agent and for the log. The agent gets the masking
 * profile the decision named (content detectors and JSON paths), the credential detectors
 * below unless turned off, and, for Kubernetes Secrets, `data`/`stringData` masked unless the
 * profile says `secrets: reveal`. The log always gets the credential detectors and masked
 * Secrets on top, so no secret reaches the log even where the agent may see it.
 */

export interface MaskingRules {
  content: readonly ContentRule[];
  paths: readonly JsonPathRule[];
}

export interface ResponseMasking {
  client: MaskingRules;
  record: MaskingRules;
}

export const credentialRules = CREDENTIAL_RULES as ContentRule[];

// Without a configured maskingSalt, `hash` correlates within this process only (never a guessable constant).
const processSalt = randomBytes(32).toString("hex");

const cache = new WeakMap<PolicyDocument, Map<string, ResponseMasking>>();
const NONE: ResponseMasking = {
  client: { content: [], paths: [] },
  record: { content: credentialRules, paths: [] },
};

export function responseMasking(
  policy: PolicySnapshot | null,
  profileName: string | undefined,
  options: { kubernetesSecrets: boolean; secretsByDefault: boolean },
): ResponseMasking {
  const document = policy?.document;
  if (!document) {
    return options.kubernetesSecrets || options.secretsByDefault
      ? build(undefined, processSalt, options)
      : NONE;
  }
  let byKey = cache.get(document);
  if (!byKey) {
    byKey = new Map();
    cache.set(document, byKey);
  }
  const key = `${profileName ?? ""}\u0000${options.kubernetesSecrets}\u0000${options.secretsByDefault}`;
  let masking = byKey.get(key);
  if (!masking) {
    const profile = profileName ? document.masking.find((p) => p.name === profileName) : undefined;
    const salt = document.maskingSalt
      ? resolveSecret(document.maskingSalt, "policy maskingSalt")
      : processSalt;
    masking = build(profile, salt, options);
    byKey.set(key, masking);
  }
  return masking;
}

function build(
  profile: MaskingProfile | undefined,
  salt: string,
  options: { kubernetesSecrets: boolean; secretsByDefault: boolean },
): ResponseMasking {
  const own = profile ? compileProfile(profile, salt).contentRules : [];
  const withCredentials = [
    ...own,
    ...credentialRules.filter((d) => !own.some((r) => r.detector === d.detector)),
  ];
  const paths = profile
    ? profile.jsonPaths.map((p) => pathRule(profile.name, p.path, strategyOf(p.strategy, salt)))
    : [];
  const secrets = profile?.secrets ?? "redact";
  const clientSecrets = options.kubernetesSecrets && secrets !== "reveal" ? secretRules(secrets, salt) : [];
  const recordSecrets = options.kubernetesSecrets
    ? secretRules(secrets === "hash" ? "hash" : "redact", salt)
    : [];
  return {
    client: {
      content: options.secretsByDefault ? withCredentials : own,
      paths: [...clientSecrets, ...paths],
    },
    record: { content: withCredentials, paths: [...recordSecrets, ...paths] },
  };
}

function strategyOf(kind: "redact" | "partial" | "hash" | "null", salt: string): MaskStrategy {
  return kind === "hash" ? { kind, salt } : { kind };
}

function pathRule(profile: string, path: string, strategy: MaskStrategy): JsonPathRule {
  return {
    segments: compileJsonPath(path),
    rule: `${profile}/${path}`,
    field: path,
    needsValue: strategy.kind === "hash" || strategy.kind === "partial",
    replace: (value) => json(value === null ? null : maskValue(value, strategy)),
    oversized: json("«redacted»"),
  };
}

/** Where Secret values sit in a Secret, a SecretList, a watch event and a Table row with its object. */
const SECRET_OBJECTS = ["$", "$.items[*]", "$.object", "$.rows[*].object"];
const LAST_APPLIED = ".metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']";

/**
 * Secret `data` values are base64: they stay base64 (of the marker) so typed clients still
 * decode them. The last-applied annotation that `kubectl apply` leaves holds the whole manifest.
 */
function secretRules(mode: "redact" | "hash", salt: string): JsonPathRule[] {
  const strategy: MaskStrategy = mode === "hash" ? { kind: "hash", salt } : { kind: "redact" };
  const base64 = (value: string) => Buffer.from(maskValue(value, strategy) ?? "", "utf8").toString("base64");
  const redacted = json(base64("«redacted»"));
  const rules: JsonPathRule[] = [];
  for (const object of SECRET_OBJECTS) {
    const common = { rule: `kubernetes-secret/${mode}`, needsValue: mode === "hash", oversized: redacted };
    rules.push(
      {
        ...common,
        segments: compileJsonPath(`${object}.data.*`),
        field: `${object}.data`,
        replace: (value) => (value === null ? "null" : mode === "hash" ? json(base64(value)) : redacted),
      },
      {
        ...common,
        segments: compileJsonPath(`${object}.stringData.*`),
        field: `${object}.stringData`,
        replace: (value) => json(value === null ? null : maskValue(value, strategy)),
        oversized: json("«redacted»"),
      },
      {
        ...common,
        segments: compileJsonPath(`${object}${LAST_APPLIED}`),
        field: `${object}.metadata.annotations`,
        needsValue: false,
        replace: () => json("«redacted»"),
        oversized: json("«redacted»"),
      },
    );
  }
  return rules;
}

function json(value: string | null): string {
  return JSON.stringify(value);
}
