import { firstFrom, type Subject, words } from "../prefilter.ts";
import { partialTrigger } from "../scan.ts";
import type { Scanner, Span } from "../types.ts";

/**
 * PEM private key blocks, from `-----BEGIN … PRIVATE KEY-----` through the first `-----END …-----`
 * (RSA, EC, DSA, OPENSSH, ENCRYPTED, PKCS#8, PGP "PRIVATE KEY BLOCK"; also inside JSON with
 * escaped newlines). A block longer than `limit` bytes, or a BEGIN with no END, is masked from
 * the BEGIN for `limit` bytes (or to the end of the text): conservative, never less.
 */

const BEGIN = "-----BEGIN ";
const END = "-----END ";
const HEADER = /-----BEGIN (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY(?: BLOCK)?-----/y;
const FOOTER = /-----END [A-Z0-9 ]{1,64}-----/y;
const HEADER_MAX = 80; // a header or footer is decided within this many characters

function headerEnd(text: string, at: number): number {
  HEADER.lastIndex = at;
  return HEADER.test(text) ? HEADER.lastIndex : -1;
}

/** Where the footer starting at `at` ends; a malformed footer ends the block right after `-----END `. */
function footerEnd(text: string, at: number): number {
  FOOTER.lastIndex = at;
  return FOOTER.test(text) ? FOOTER.lastIndex : at + END.length;
}

/** `limit` bytes from `at`, but never ending before a UTF-8 continuation byte (which would cut a character). */
function endWithin(text: string, at: number, limit: number): number {
  let end = Math.min(at + limit, text.length);
  while (end > at && end < text.length && (text.charCodeAt(end) & 0xc0) === 0x80) end--;
  return end;
}

/** Every BEGIN, found by its rarer part (indexOf skips to its first character). */
const BEGINS = words([BEGIN], "BEGIN ");

function scanPem(limit: number, text: string, from: number, out: Span[], begins: readonly number[]): void {
  let pos = from;
  let nextEnd = -2; // cached position of the next "-----END " (-1: none left), so the scan stays linear
  for (let i = firstFrom(begins, pos); i < begins.length; i++) {
    const at = begins[i] as number;
    if (at < pos) continue;
    const body = headerEnd(text, at);
    if (body === -1) {
      pos = at + 1;
      continue;
    }
    if (nextEnd === -2 || (nextEnd !== -1 && nextEnd < body)) nextEnd = text.indexOf(END, body);
    let end = nextEnd === -1 ? text.length : footerEnd(text, nextEnd);
    if (end - at > limit) end = endWithin(text, at, limit);
    out.push({ at, start: at, end, resume: end });
    pos = end;
  }
}

/** A BEGIN is open while its header is unfinished, or it has no END yet and is within `limit` of the end. */
function pemPendingFrom(limit: number, subject: Subject): number {
  const { text } = subject;
  const floor = Math.max(0, text.length - limit);
  const begins = subject.find(BEGINS);
  for (let i = firstFrom(begins, floor); i < begins.length; i++) {
    const at = begins[i] as number;
    const body = headerEnd(text, at);
    if (body === -1) {
      if (text.length - at < HEADER_MAX) return at;
      continue;
    }
    const end = text.indexOf(END, body);
    if (end === -1) return at;
    FOOTER.lastIndex = end;
    if (!FOOTER.test(text) && text.length - end < HEADER_MAX) return at;
  }
  return Math.max(floor, partialTrigger(text, [BEGIN]));
}

export const privateKeyPem = (limit: number): Scanner => ({
  name: "private_key_pem",
  reach: limit,
  scan: (subject, from, out) => scanPem(limit, subject.text, from, out, subject.find(BEGINS)),
  reference: (text, from, out) => {
    const begins: number[] = [];
    for (let at = text.indexOf(BEGIN); at !== -1; at = text.indexOf(BEGIN, at + 1)) begins.push(at);
    scanPem(limit, text, from, out, begins);
  },
  pendingFrom: (subject) => pemPendingFrom(limit, subject),
});
