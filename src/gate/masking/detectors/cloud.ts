import { charSet, firstOpenTrigger, inSet, lastGroup, runPending, scanRegex } from "../scan.ts";
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

function scanAwsSecret(text: string, from: number, out: Span[]): void {
  let cursor = from; // candidates before it are already decided
  AWS_CONTEXT.lastIndex = Math.max(0, from - AWS_WINDOW - 6);
  for (let m = AWS_CONTEXT.exec(text); m !== null; m = AWS_CONTEXT.exec(text)) {
    const last = Math.min(m.index + m[0].length + AWS_WINDOW, text.length);
    let p = Math.max(cursor, m.index + m[0].length);
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
    AWS_CONTEXT.lastIndex = m.index + 1; // overlapping words too, so the result never depends on `from`
  }
}

export const awsSecretAccessKey = (): Scanner => ({
  name: "aws_secret_access_key",
  reach: AWS_KEY_LENGTH + 2,
  scan: scanAwsSecret,
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
  scan: scanAzureKey,
  pendingFrom: runPending(B64_OR_PAD, AZURE_KEY_BODY + 3),
});

/** The secret parts of Azure connection strings: `AccountKey=`, `SharedAccessKey=`, `SharedAccessSignature=`. */
const AZURE_CONNECTION =
  /(?<![A-Za-z0-9])(?:AccountKey|SharedAccessKey|SharedAccessSignature)=([!#-&(-:=?-~]{1,1024})/gi;

export const azureConnectionString = (): Scanner => ({
  name: "azure_connection_string",
  reach: 1050,
  scan: (text, from, out) => scanRegex(AZURE_CONNECTION, lastGroup(), text, from, out),
  pendingFrom: runPending(charSet(/[!#-&(-:=?-~]/), 1050),
});

/**
 * The `private_key` string of a GCP service-account JSON key file (a PEM block with escaped
 * newlines). Only its value is masked; the key id and e-mail stay readable.
 */
export function gcpServiceAccountKey(limit: number): Scanner {
  const value = limit - 64;
  const re = new RegExp(
    `"private_key"[ \\t]{0,16}:[ \\t]{0,16}"((?:[^"\\\\\\r\\n]|\\\\.){1,${value}})"`,
    "g",
  );
  const sticky = new RegExp(re.source, "y");
  const trigger = /"private_key"/g;
  return {
    name: "gcp_service_account_key",
    reach: limit,
    scan: (text, from, out) => scanRegex(re, lastGroup(1), text, from, out),
    // A JSON string cannot span lines: an attempt is decided once it matched or a line ended.
    pendingFrom: (text) => {
      const floor = Math.max(0, text.length - limit);
      const open = (at: number) => {
        sticky.lastIndex = at;
        if (sticky.test(text)) return false;
        return !/[\r\n]/.test(text.slice(at));
      };
      return firstOpenTrigger(text, trigger, ['"private_key"'], floor, open);
    },
  };
}
