import type { PolicySnapshot } from "../../domain/policy/decide.ts";
import type { PolicyDocument } from "../../domain/policy/document.ts";
import type { ContentRule, DetectorName } from "../../gate/masking/index.ts";
import { maskingProfile } from "../../gate/masking/profiles.ts";

/**
 * The content rules applied to what a command prints: the masking profile the decision named
 * (rule, grant or target), plus, unless turned off, the credential detectors below, so a key or
 * password printed by a host never reaches an agent even where no profile was written.
 */

const SECRET_DETECTORS: DetectorName[] = [
  "private_key_pem",
  "aws_access_key_id",
  "aws_secret_access_key",
  "gcp_api_key",
  "gcp_service_account_key",
  "azure_storage_key",
  "azure_connection_string",
  "github_token",
  "gitlab_token",
  "slack_token",
  "jwt",
  "bearer_token",
  "url_password",
];

// The engine caches compiled plans per rules array, so the same array is handed out per document and profile.
const cache = new WeakMap<PolicyDocument, Map<string, ContentRule[]>>();

/** Throws (CONFIG_INVALID) when the profile named is not in policy: the caller refuses the command. */
export function contentRules(
  policy: PolicySnapshot | null,
  profileName: string | undefined,
  secretsByDefault: boolean,
): ContentRule[] {
  const document = policy?.document;
  if (!document) return secretsByDefault ? defaults : [];
  let byProfile = cache.get(document);
  if (!byProfile) {
    byProfile = new Map();
    cache.set(document, byProfile);
  }
  const key = `${profileName ?? ""}\u0000${secretsByDefault}`;
  let rules = byProfile.get(key);
  if (!rules) {
    const own = maskingProfile(policy, profileName)?.contentRules ?? [];
    const extra = secretsByDefault ? defaults.filter((d) => !own.some((r) => r.detector === d.detector)) : [];
    rules = [...own, ...extra];
    byProfile.set(key, rules);
  }
  return rules;
}

const defaults: ContentRule[] = SECRET_DETECTORS.map((detector) => ({
  detector,
  strategy: { kind: "redact" },
  rule: `default-secrets/${detector}`,
}));
