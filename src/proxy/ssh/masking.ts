import type { PolicySnapshot } from "../../domain/policy/decide.ts";
import type { PolicyDocument } from "../../domain/policy/document.ts";
import { CREDENTIAL_RULES } from "../../gate/masking/credential-rules.ts";
import type { ContentRule } from "../../gate/masking/index.ts";
import { maskingProfile } from "../../gate/masking/profiles.ts";

/**
 * The content rules applied to what a command prints: the masking profile the decision named
 * (rule, grant or target), plus, unless turned off, the credential detectors below, so a key or
 * password printed by a host never reaches an agent even where no profile was written.
 */

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

const defaults = CREDENTIAL_RULES as ContentRule[];
