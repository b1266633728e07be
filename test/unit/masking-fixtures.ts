import type { DetectorName } from "../../src/gate/masking/index.ts";

/**
 * Example secrets for the masking tests. Vendor tokens are assembled at run time so that
 * secret scanners do not flag this file; none of them is a real credential.
 */

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const repeatTo = (pattern: string, length: number) =>
  pattern.repeat(Math.ceil(length / pattern.length)).slice(0, length);

export const JWT = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url({ sub: "1234567890", name: "Jo Doe" })}.${repeatTo("Sf1Kx_wRJ-SMeKKF2QT4fwpMeJf36POk6yJV", 43)}`;
export const JWT_NO_ALG = `${b64url({ typ: "JWT", kid: "k1" })}.${b64url({ sub: "1" })}.${repeatTo("abc", 43)}`;
export const AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"; // the example key of the AWS documentation
export const AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
export const GCP_API_KEY = `${"AI"}za${repeatTo("SyD4dI0hCZtE6vySjMm-WEfRq3CPzqKq_", 35)}`;
export const AZURE_KEY = `${repeatTo("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw", 86)}==`;
export const GITHUB_TOKEN = `gh${"p_"}${repeatTo("a1B2c3D4e5F6g7H8i9J0", 36)}`;
export const GITHUB_PAT = `github${"_pat_"}${repeatTo("11ABCDEFG0", 22)}_${repeatTo("xYz987Qw", 59)}`;
export const GITLAB_TOKEN = `gl${"pat-"}${repeatTo("aB3dE5fG7hJ9kL1mN3pQ", 20)}`;
export const SLACK_TOKEN = `xo${"xb-"}123456789012-1234567890123-${repeatTo("AbCdEfGhIjKlMnOpQrStUvWx", 24)}`;
export const PEM_BODY =
  "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi\nZ1BjP5CE/Wm/Rr500PRK+Lh9x5eJPo5CAZ3/ANBE0\n";
export const pem = (label: string) => `-----BEGIN ${label}-----\n${PEM_BODY}-----END ${label}-----`;

/** Each detector's positives: the text, and the region of it that must be masked. */
export const POSITIVES: [DetectorName, string, string][] = [
  ["email", "contact john.doe@example.com today", "john.doe@example.com"],
  ["email", "cc: A+tag@sub.Example.co.uk.", "A+tag@sub.Example.co.uk"],
  ["jwt", `token=${JWT};`, JWT],
  ["bearer_token", "Authorization: Bearer 9f8e7d6c5b4a3928", "9f8e7d6c5b4a3928"],
  ["bearer_token", "bearer abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"],
  ["aws_access_key_id", `key id ${AWS_KEY_ID}.`, AWS_KEY_ID],
  ["aws_access_key_id", "ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"],
  ["aws_secret_access_key", `aws_secret_access_key = ${AWS_SECRET}`, AWS_SECRET],
  ["aws_secret_access_key", `{"AccessKeyId": "ASIAX", "SecretAccessKey": "${AWS_SECRET}"}`, AWS_SECRET],
  ["gcp_api_key", `?key=${GCP_API_KEY}&x=1`, GCP_API_KEY],
  [
    "gcp_service_account_key",
    `{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADAN\\n-----END PRIVATE KEY-----\\n", "client_id": "1"}`,
    "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADAN\\n-----END PRIVATE KEY-----\\n",
  ],
  ["azure_storage_key", `key: ${AZURE_KEY}`, AZURE_KEY],
  [
    "azure_connection_string",
    "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=c2VjcmV0LWtleQ+/=;EntityPath=q",
    "c2VjcmV0LWtleQ+/=",
  ],
  [
    "azure_connection_string",
    "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc123==;",
    "abc123==",
  ],
  ["github_token", `GITHUB_TOKEN=${GITHUB_TOKEN}`, GITHUB_TOKEN],
  ["github_token", `token ${GITHUB_PAT}`, GITHUB_PAT],
  ["gitlab_token", `PRIVATE-TOKEN: ${GITLAB_TOKEN}`, GITLAB_TOKEN],
  ["slack_token", `SLACK_BOT_TOKEN=${SLACK_TOKEN}`, SLACK_TOKEN],
  ["private_key_pem", `key:\n${pem("RSA PRIVATE KEY")}\n`, pem("RSA PRIVATE KEY")],
  ["private_key_pem", `"${pem("EC PRIVATE KEY")}"`, pem("EC PRIVATE KEY")],
  ["private_key_pem", pem("OPENSSH PRIVATE KEY"), pem("OPENSSH PRIVATE KEY")],
  ["private_key_pem", pem("ENCRYPTED PRIVATE KEY"), pem("ENCRYPTED PRIVATE KEY")],
  ["private_key_pem", pem("PRIVATE KEY"), pem("PRIVATE KEY")],
  ["url_password", "DATABASE_URL=postgres://admin:s3cr3t-Pw@db.internal:5432/app", "s3cr3t-Pw"],
  ["url_password", "redis://:r3dis!pw@cache:6379/0", "r3dis!pw"],
  ["url_password", "host=db port=5432 user=app password=hunter2 dbname=orders", "hunter2"],
  ["url_password", "jdbc:sqlserver://h:1433;user=sa;Password=Sup3r$ecret;database=x", "Sup3r$ecret"],
  ["url_password", "host=db password = 'with space' user=x", "with space"],
  ["credit_card", "card 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111"],
  ["credit_card", "card=4111-1111-1111-1111", "4111-1111-1111-1111"],
  ["credit_card", "pan:5555555555554444,", "5555555555554444"],
  ["credit_card", "amex 3782 822463 10005", "3782 822463 10005"],
  ["credit_card", "amex 378282246310005", "378282246310005"],
  ["iban", "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX", "DE89 3704 0044 0532 0130 00"],
  ["iban", "iban=GB82WEST12345698765432", "GB82WEST12345698765432"],
  ["iban", "FR1420041010050500013M02606", "FR1420041010050500013M02606"],
  ["us_ssn", "SSN 078-05-1120 on file", "078-05-1120"],
  ["us_ssn", "ssn: 123-45-6789", "123-45-6789"],
  ["phone", "call +1 415-555-2671 now", "+1 415-555-2671"],
  ["phone", "tel +44 20 7946 0958", "+44 20 7946 0958"],
  ["phone", "whatsapp:+14155552671", "+14155552671"],
  ["phone", "office +49 (30) 1234567", "+49 (30) 1234567"],
  ["phone", "US: (212) 555-0199", "(212) 555-0199"],
  ["phone", "US: 212-555-0199.", "212-555-0199"],
  ["phone", "US: 212.555.0199", "212.555.0199"],
  ["phone", "toll free 1-800-555-0199", "1-800-555-0199"],
];

/** Near misses each detector must leave alone. */
export const NEGATIVES: [DetectorName, string][] = [
  ["email", "user@localhost and a@b.c and @example.com and john@"],
  ["email", "postgres://app:pw@db.example.com/x"],
  ["jwt", `${JWT_NO_ALG} and eyJhbGciOiJIUzI1NiJ9 alone`],
  ["bearer_token", "uses Bearer authentication; Bearer token; Bearer abc"],
  ["aws_access_key_id", "AKIAIOSFODNN7EXAMPL and XAKIAIOSFODNN7EXAMPLE and AKIAIOSFODNN7EXAMPLEX"],
  ["aws_secret_access_key", `value ${AWS_SECRET} without context`],
  ["aws_secret_access_key", "secret sha: 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"],
  ["aws_secret_access_key", `aws secret ${AWS_SECRET}A is 41 characters`],
  ["gcp_api_key", `${GCP_API_KEY.slice(0, -1)} is too short`],
  ["gcp_service_account_key", `{"private_key_id": "0123456789abcdef", "private_key": 42}`],
  ["azure_storage_key", `integrity sha512-${AZURE_KEY} and ${AZURE_KEY.slice(1)}`],
  ["azure_connection_string", "MyAccountKey=abc; AccountKey=;"],
  ["github_token", `gh${"x_"}${"a".repeat(36)} and gh${"p_"}short`],
  ["gitlab_token", `gl${"pat-"}short`],
  ["slack_token", `xo${"xz-"}1234567890-abc and xo${"xb-"}123`],
  ["private_key_pem", pem("CERTIFICATE")],
  ["private_key_pem", pem("PUBLIC KEY")],
  ["url_password", "https://example.com:8080/path?q=1 and ftp://anonymous@host/"],
  ["url_password", "PWD=/home/agent OLDPWD=/tmp mypassword=x password="],
  ["credit_card", "4111 1111 1111 1112 and 4111-1111 1111-1111 and 41 11 11 11 11 11 11 11"],
  ["credit_card", "ts 1234567812345670 and 1700000000000 and 4111111111111111111111"],
  ["iban", "DE89 3704 0044 0532 0130 01 and XX89370400440532013000 and DE8937040044053201300"],
  ["us_ssn", "000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000 1123-45-6789 123-45-67890"],
  ["phone", "+12345 and +1234567 and 2024-01-15 and v1.2.3 and 123-456-7890 and 555-1234"],
  ["phone", "order #4155552671 and x+4930123456 and 3+4155552671 and 10.212.555.1234"],
];
