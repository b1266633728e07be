import { caseless, firstFrom, type Subject, startsCaseless, words } from "../prefilter.ts";
import { charSet, inSet, lastGroup, partialTrigger, regexScanner, runPending } from "../scan.ts";
import type { Scanner, Span } from "../types.ts";

/** Cloud credentials: AWS secret keys, GCP service-account keys, Azure storage keys. */

const B64 = charSet(/[A-Za-z0-9+/]/);
const B64_OR_PAD = charSet(/[A-Za-z0-9+/=]/);

/**
 * AWS secret access keys are 40 random base64 characters with nothing that marks them, so a
 * 40-character run counts only when "aws" or "secret" (any case) ends within the 100
 * characters before it, and it mixes upper case, lower case and a digit, '+' or '/'.
 */
const AWS_CONTEXT = /aws|secret/gi;
const AWS_WINDOW = 100;
const AWS_KEY_LENGTH = 40;

function looksRandom(text: string, start: number, end: number): boolean {
  let upper = false;
  let lower = false;
  let other = false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) upper = true;
    else if (c >= 97 && c <= 122) lower = true;
    else other = true;
  }
  return upper && lower && other;
}

/** Keys after each context word; `words` holds where one begins (in any case), ascending. */
function scanAwsSecret(text: string, from: number, out: Span[], words: readonly number[]): void {
  let cursor = from; // candidates before it are already decided
  // Overlapping words too (all of them), so the result never depends on `from`.
  for (let i = firstFrom(words, Math.max(0, from - AWS_WINDOW - 6)); i < words.length; i++) {
    const at = words[i] as number;
    const after = at + (startsCaseless(text, "aws", at) ? 3 : 6);
    const last = Math.min(after + AWS_WINDOW, text.length);
    let p = Math.max(cursor, after);
    while (p < last) {
      if (!inSet(B64, text.charCodeAt(p)) || (p > 0 && inSet(B64, text.charCodeAt(p - 1)))) {
        p++;
        continue;
      }
      const start = p;
      while (p < text.length && p - start <= AWS_KEY_LENGTH && inSet(B64, text.charCodeAt(p))) p++;
      const end = start + AWS_KEY_LENGTH;
      const exact = p === end && (p === text.length || !inSet(B64_OR_PAD, text.charCodeAt(p)));
      if (exact && looksRandom(text, start, end)) out.push({ at: start, start, end, resume: end });
      while (p < text.length && inSet(B64, text.charCodeAt(p))) p++;
    }
    cursor = Math.max(cursor, p);
  }
}

const AWS_WORDS = caseless(["aws", "secret"]);

export const awsSecretAccessKey = (): Scanner => ({
  name: "aws_secret_access_key",
  reach: AWS_KEY_LENGTH + 2,
  scan: (subject, from, out) => scanAwsSecret(subject.text, from, out, subject.find(AWS_WORDS)),
  reference: (text, from, out) => {
    const words: number[] = [];
    AWS_CONTEXT.lastIndex = 0;
    for (let m = AWS_CONTEXT.exec(text); m !== null; m = AWS_CONTEXT.exec(text)) {
      words.push(m.index);
      AWS_CONTEXT.lastIndex = m.index + 1;
    }
    scanAwsSecret(text, from, out, words);
  },
  pendingFrom: runPending(B64_OR_PAD, AWS_KEY_LENGTH + 2),
});

/**
 * Azure storage account keys: 64 random bytes, so exactly 86 base64 characters and "==".
 * Found from each "==", looking back; Subresource Integrity digests ("sha512-…") are not keys.
 */
const AZURE_KEY_BODY = 86;

function scanAzureKey(text: string, from: number, out: Span[]): void {
  let q = text.indexOf("==", from + AZURE_KEY_BODY);
  while (q !== -1) {
    const start = q - AZURE_KEY_BODY;
    let i = q;
    while (i > start && inSet(B64, text.charCodeAt(i - 1))) i--;
    const bounded =
      i === start &&
      (start === 0 || !inSet(B64, text.charCodeAt(start - 1))) &&
      (q + 2 === text.length || !inSet(B64_OR_PAD, text.charCodeAt(q + 2))) &&
      !(start >= 7 && text.startsWith("sha512-", start - 7));
    if (bounded) {
      out.push({ at: start, start, end: q + 2, resume: q + 2 });
      q = text.indexOf("==", q + 2 + AZURE_KEY_BODY);
    } else {
      q = text.indexOf("==", q + 1);
    }
  }
}

export const azureStorageKey = (): Scanner => ({
  name: "azure_storage_key",
  reach: AZURE_KEY_BODY + 3,
  scan: (subject, from, out) => scanAzureKey(subject.text, from, out),
  reference: scanAzureKey,
  pendingFrom: runPending(B64_OR_PAD, AZURE_KEY_BODY + 3),
});

/** The secret parts of Azure connection strings: `AccountKey=`, `SharedAccessKey=`, `SharedAccessSignature=`. */
const AZURE_CONNECTION =
  /(?<![A-Za-z0-9])(?:AccountKey|SharedAccessKey|SharedAccessSignature)=([!#-&(-:=?-~]{1,1024})/gi;

const AZURE_WORDS = caseless(["accountkey", "sharedaccesskey", "sharedaccesssignature"]);

export const azureConnectionString = (): Scanner =>
  regexScanner(
    "azure_connection_string",
    AZURE_CONNECTION,
    lastGroup(),
    AZURE_WORDS,
    1050,
    runPending(charSet(/[!#-&(-:=?-~]/), 1050),
  );

/**
 * The `private_key` string of a GCP service-account JSON key file (a PEM block with escaped
 * newlines). Only its value is masked; the key id and e-mail stay readable.
 */
const GCP_KEY_WORD = '"private_key"';
const GCP_KEY = words([GCP_KEY_WORD], "_");

export function gcpServiceAccountKey(limit: number): Scanner {
  const value = limit - 64;
  const re = new RegExp(
    `"private_key"[ \\t]{0,16}:[ \\t]{0,16}"((?:[^"\\\\\\r\\n]|\\\\.){1,${value}})"`,
    "g",
  );
  const sticky = new RegExp(re.source, "y");
  // A JSON string cannot span lines: an attempt is decided once it matched or a line ended.
  const pendingFrom = (subject: Subject) => {
    const { text } = subject;
    const floor = Math.max(0, text.length - limit);
    const keys = subject.find(GCP_KEY);
    for (let i = firstFrom(keys, floor); i < keys.length; i++) {
      const at = keys[i] as number;
      sticky.lastIndex = at;
      if (!sticky.test(text) && !/[\r\n]/.test(text.slice(at))) return at;
    }
    return Math.max(floor, partialTrigger(text, [GCP_KEY_WORD]));
  };
  return regexScanner("gcp_service_account_key", re, lastGroup(1), GCP_KEY, limit, pendingFrom);
}
