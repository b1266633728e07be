import {
  awsSecretAccessKey,
  azureConnectionString,
  azureStorageKey,
  gcpServiceAccountKey,
} from "./detectors/cloud.ts";
import { keyValuePassword, urlPassword } from "./detectors/passwords.ts";
import { privateKeyPem } from "./detectors/pem.ts";
import {
  creditCard,
  email,
  iban,
  internationalPhone,
  northAmericanPhone,
  usSsn,
} from "./detectors/personal.ts";
import {
  awsAccessKeyId,
  bearerToken,
  gcpApiKey,
  githubToken,
  gitlabToken,
  jwt,
  slackToken,
} from "./detectors/tokens.ts";
import type { DetectorName, Scanner } from "./types.ts";

/** Every detector by name, each one or more scanners; `limit` bounds the longest secrets. */
const FACTORIES: Record<DetectorName, (limit: number) => Scanner[]> = {
  email: () => [email()],
  jwt: (limit) => [jwt(limit)],
  bearer_token: (limit) => [bearerToken(limit)],
  aws_access_key_id: () => [awsAccessKeyId()],
  aws_secret_access_key: () => [awsSecretAccessKey()],
  gcp_api_key: () => [gcpApiKey()],
  gcp_service_account_key: (limit) => [gcpServiceAccountKey(limit)],
  azure_storage_key: () => [azureStorageKey()],
  azure_connection_string: () => [azureConnectionString()],
  github_token: () => [githubToken()],
  gitlab_token: () => [gitlabToken()],
  slack_token: () => [slackToken()],
  private_key_pem: (limit) => [privateKeyPem(limit)],
  url_password: () => [urlPassword(), keyValuePassword()],
  credit_card: () => [creditCard()],
  iban: () => [iban()],
  us_ssn: () => [usSsn()],
  phone: () => [internationalPhone(), northAmericanPhone()],
};

export const DETECTOR_NAMES = Object.keys(FACTORIES) as DetectorName[];

/** The smallest bound on secrets the detectors accept (JWT parts need room). */
export const MIN_SECRET_LIMIT = 4096;

const cache = new Map<string, Scanner[]>();

export function scannersFor(name: DetectorName, limit: number): Scanner[] {
  const key = `${name}:${limit}`;
  let scanners = cache.get(key);
  if (scanners === undefined) {
    const factory = FACTORIES[name];
    if (factory === undefined) throw new RangeError(`unknown masking detector "${name}"`);
    scanners = factory(limit);
    cache.set(key, scanners);
  }
  return scanners;
}
