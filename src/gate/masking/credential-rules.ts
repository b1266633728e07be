import type { ContentRule, DetectorName } from "./types.ts";

/** Detectors for credentials: masked in every output of every proxy unless turned off, profile or not. */
export const CREDENTIAL_DETECTORS: readonly DetectorName[] = [
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

/** The credential detectors as content rules, recorded as `credentials/<detector>`. */
export const CREDENTIAL_RULES: readonly ContentRule[] = CREDENTIAL_DETECTORS.map((detector) => ({
  detector,
  strategy: { kind: "redact" },
  rule: `credentials/${detector}`,
}));
