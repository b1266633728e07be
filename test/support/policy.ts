import type { PolicySnapshot } from "../../src/domain/policy/decide.ts";
import { parsePolicyFiles } from "../../src/domain/policy/parse.ts";

/** A policy snapshot from YAML text, as the gateway would hold it after `sluice policy apply`. */
export function policyFrom(text: string, version = 1): PolicySnapshot {
  return { version, document: parsePolicyFiles([{ file: "policy.yaml", text }]).document };
}
