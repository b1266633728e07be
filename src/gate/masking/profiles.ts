import { resolveSecret } from "../../config/secret-ref.ts";
import type { PolicySnapshot } from "../../domain/policy/decide.ts";
import { SluiceError } from "../../errors.ts";
import { maskText } from "./mask-text.ts";
import { type CompiledProfile, compileProfile } from "./profile.ts";

/** Without `maskingSalt` in policy, hashes are stable but comparable across deployments. */
const DEFAULT_SALT = "sluice-masking-default-salt";

const compiled = new WeakMap<PolicySnapshot["document"], Map<string, CompiledProfile>>();

/**
 * The compiled masking profile a verdict names (`verdict.masking`), compiled once per policy
 * version; null when no profile applies. A name the policy does not define fails closed.
 */
export function maskingProfile(
  policy: PolicySnapshot | null,
  name: string | undefined,
): CompiledProfile | null {
  if (!name) return null;
  if (!policy) throw new SluiceError("CONFIG_INVALID", `masking profile ${name}: no policy is published`);
  let profiles = compiled.get(policy.document);
  if (!profiles) {
    profiles = new Map();
    compiled.set(policy.document, profiles);
  }
  const cached = profiles.get(name);
  if (cached) return cached;
  const profile = policy.document.masking.find((p) => p.name === name);
  if (!profile) throw new SluiceError("CONFIG_INVALID", `masking profile ${name} is not defined in policy`);
  const salt = policy.document.maskingSalt
    ? resolveSecret(policy.document.maskingSalt, "maskingSalt")
    : DEFAULT_SALT;
  const result = compileProfile(profile, salt);
  profiles.set(name, result);
  return result;
}

const asIs = (text: string) => text;

/**
 * What an agent sent (statement text, bound values) as it is recorded: through the content
 * detectors of the verdict's profile, since its literals may carry secrets.
 */
export function inputRedactor(
  policy: PolicySnapshot | null,
  masking: string | undefined,
): (text: string) => string {
  let rules: CompiledProfile["contentRules"] | undefined;
  try {
    rules = maskingProfile(policy, masking)?.contentRules;
  } catch {
    rules = undefined; // an undefined profile is the proxy's refusal to make; the record stays as sent
  }
  if (!rules || rules.length === 0) return asIs;
  const active = rules;
  return (text) => maskText(text, active).text;
}
