import { IBAN_LENGTHS, ibanValid, luhnValid } from "../checksums.ts";
import { charSet, inSet, type Pick, runPending, scanAnchored, scanRegex, whole } from "../scan.ts";
import type { Scanner, Span } from "../types.ts";

/** Personal data: e-mail addresses, card numbers, IBANs, US social security numbers, phone numbers. */

function regexScanner(
  name: Scanner["name"],
  re: RegExp,
  pick: Pick,
  alphabet: RegExp,
  reach: number,
): Scanner {
  return {
    name,
    reach,
    scan: (text, from, out) => scanRegex(re, pick, text, from, out),
    pendingFrom: runPending(charSet(alphabet), reach),
  };
}

// --- e-mail: found from each "@", looking back over the local part and forward over the domain.

// Local parts may hold UTF-8 (RFC 6531); domains are ASCII (IDNs in punycode).
const LOCAL = charSet(/[A-Za-z0-9._%+-]/, true);
const LABEL = charSet(/[A-Za-z0-9-]/);
const LOCAL_MAX = 64;
const DOMAIN_MAX = 253;
const URL_LOOKBACK = 256;

/** End of the domain after `at` (exclusive): labels of 1–63 characters, the last one 2–24 letters. */
function domainEnd(text: string, at: number): number {
  const limit = Math.min(text.length, at + DOMAIN_MAX);
  let best = -1;
  let labels = 0;
  let i = at;
  while (i < limit) {
    const start = i;
    let letters = true;
    while (i < limit && inSet(LABEL, text.charCodeAt(i))) {
      const c = text.charCodeAt(i) | 32;
      if (c < 97 || c > 122) letters = false;
      i++;
    }
    const length = i - start;
    if (length === 0 || length > 63) break;
    labels++;
    if (labels >= 2 && letters && length >= 2 && length <= 24) best = i;
    if (text.charCodeAt(i) !== 46 || i + 1 >= limit) break;
    i++;
  }
  return best;
}

/** `scheme://user:pass@host` is a URL's userinfo (url_password), not an address. */
function inUrlUserinfo(text: string, start: number): boolean {
  if (text.charCodeAt(start - 1) !== 58) return false;
  let j = start - 2;
  const floor = Math.max(0, start - URL_LOOKBACK);
  while (j >= floor && !/[ \t\r\n\f\v/@]/.test(text[j] ?? " ")) j--;
  return j >= 2 && text.startsWith("://", j - 2);
}

/**
 * The local part is the run of local-part characters before the "@", at most its last 64
 * bytes: a longer run (words glued to an address) is masked too, never let through. It never
 * starts inside a UTF-8 character.
 */
function localStart(text: string, at: number): number {
  let start = at;
  while (start > 0 && at - start < LOCAL_MAX && inSet(LOCAL, text.charCodeAt(start - 1))) start--;
  while (start < at && (text.charCodeAt(start) & 0xc0) === 0x80) start++;
  return start;
}

function scanEmail(text: string, from: number, out: Span[]): void {
  for (let a = text.indexOf("@", from + 1); a !== -1; a = text.indexOf("@", a + 1)) {
    const start = localStart(text, a);
    if (start === a || start < from) continue;
    const end = domainEnd(text, a + 1);
    if (end === -1 || inUrlUserinfo(text, start)) continue;
    // Each "@" is decided on its own, so the scan resumes right after the local part's start.
    out.push({ at: start, start, end, resume: start + 1 });
  }
}

export const email = (): Scanner => ({
  name: "email",
  reach: LOCAL_MAX + 1 + DOMAIN_MAX + 2,
  scan: scanEmail,
  pendingFrom: runPending(charSet(/[A-Za-z0-9._%+@-]/, true), LOCAL_MAX + 1 + DOMAIN_MAX + 2),
});

// --- card numbers: 13–19 digits, optionally in groups split by one kind of separator.

/** A «hash:…» marker (all-decimal now and then) is not a card; '«' ends in 0xAB in both forms. */
function isHashMarker(text: string, at: number): boolean {
  return at >= 6 && text.charCodeAt(at - 6) === 0xab && text.startsWith("hash:", at - 5);
}

/**
 * From the longest candidate down, the first that is Luhn-valid and written like a card: groups
 * share one separator and the first group has 4 digits. The first digit is 2–6 (Mastercard,
 * Amex/Diners/JCB, Visa, Mastercard/Maestro, Discover/UnionPay): this spares millisecond
 * timestamps and other 13–19 digit ids, which start with 1.
 */
const cardPick: Pick = (m, text) => {
  if (isHashMarker(text, m.index)) return null;
  const raw = m[0];
  const compact = raw.replace(/[ -]/g, "");
  // One pass over the groups: where each ends, how many digits come before, whether the
  // separators so far are all the same and the first group has four digits.
  let digits = 0;
  let separator = 0;
  let formatted = true;
  const ends: { at: number; digits: number; formatted: boolean }[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 32 || c === 45) {
      ends.push({ at: i, digits, formatted }); // the candidate ending before this separator
      if (separator === 0) formatted = digits === 4;
      else if (c !== separator) formatted = false;
      separator = c;
    } else digits++;
  }
  ends.push({ at: raw.length, digits, formatted });
  for (let k = ends.length - 1; k >= 0; k--) {
    const end = ends[k] as (typeof ends)[number];
    if (end.digits < 13) break;
    if (end.digits <= 19 && end.formatted && luhnValid(compact.slice(0, end.digits)))
      return { start: m.index, end: m.index + end.at };
  }
  return null;
};

// Every card format begins with four digits and a group of at least four: checking that first
// (before the lookbehind) makes the many short numbers in logs fail fast.
export const creditCard = (): Scanner =>
  regexScanner(
    "credit_card",
    /[2-6][0-9]{3}(?<![0-9][2-6][0-9]{3})[ -]?[0-9]{4}(?:[ -]?[0-9]){5,11}(?![0-9])/g,
    cardPick,
    /[0-9 -]/,
    40,
  );

// --- IBAN: country code, check digits, BBAN; electronic or printed (groups of 4 with spaces).

const ibanPick: Pick = (m, text) => {
  const length = IBAN_LENGTHS.get(m[0].slice(0, 2));
  if (length === undefined) return null;
  let compact = "";
  let i = m.index;
  const limit = m.index + m[0].length;
  while (i < limit && compact.length < length) {
    if (text.charCodeAt(i) !== 32) compact += text[i];
    i++;
  }
  if (compact.length !== length || /[A-Za-z0-9]/.test(text[i] ?? " ")) return null;
  return ibanValid(compact) ? { start: m.index, end: i } : null;
};

export const iban = (): Scanner =>
  regexScanner(
    "iban",
    /[A-Z]{2}(?<![A-Za-z0-9][A-Z]{2})[0-9]{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])/g,
    ibanPick,
    /[A-Z0-9 ]/,
    66,
  );

// --- US SSN: AAA-GG-SSSS, never area 000, 666 or 9xx, group 00 or serial 0000.

const ssnPick: Pick = (m) => {
  const [area, group, serial] = m[0].split("-");
  if (area === "000" || area === "666" || area?.startsWith("9") || group === "00" || serial === "0000")
    return null;
  return whole(m, m.input);
};

export const usSsn = (): Scanner =>
  regexScanner(
    "us_ssn",
    /[0-9]{3}(?<![0-9][0-9]{3})(?<![0-9]-[0-9]{3})-[0-9]{2}-[0-9]{4}(?![0-9]|-[0-9])/g,
    ssnPick,
    /[0-9-]/,
    14,
  );

// --- phone numbers, conservatively: international `+` numbers and North American formats.

/**
 * `+` and a country code, then digits in groups split by single spaces, dots or dashes, with an
 * optional parenthesised area code: 8–15 digits when grouped, 10–15 when written in one run.
 * Not preceded by a letter, digit or `+` (so `a+12345678` or `1+2` are not numbers).
 */
const internationalPick: Pick = (m) => {
  const digits = m[0].replace(/[^0-9]/g, "").length;
  const grouped = /[ .()-]/.test(m[0]);
  if (digits > 15 || digits < (grouped ? 8 : 10)) return null;
  return whole(m, m.input);
};

const INTERNATIONAL = /\+[1-9](?<![A-Za-z0-9+]\+[1-9])(?:[ .-]?(?:[0-9]|\([0-9]{1,4}\))){6,16}(?![0-9])/y;

export const internationalPhone = (): Scanner => ({
  name: "phone",
  reach: 120,
  scan: (text, from, out) => scanAnchored("+", INTERNATIONAL, internationalPick, text, from, out),
  pendingFrom: runPending(charSet(/[0-9 .()+-]/), 120),
});

/**
 * North American numbers: (NXX) NXX-XXXX, NXX-NXX-XXXX, NXX.NXX.XXXX, optionally after `1`.
 * Each alternative starts with its first character and checks what precedes it afterwards.
 */
export const northAmericanPhone = (): Scanner =>
  regexScanner(
    "phone",
    new RegExp(
      "(?:1(?<![A-Za-z0-9_.+-]1)[ .-]?(?:\\([2-9][0-9]{2}\\) ?|[2-9][0-9]{2}[.-])" +
        "|\\((?<![A-Za-z0-9_.+-]\\()[2-9][0-9]{2}\\) ?" +
        "|[2-9](?<![A-Za-z0-9_.+-][2-9])[0-9]{2}[.-])" +
        "[2-9][0-9]{2}[.-][0-9]{4}(?![0-9]|[.-][0-9])",
      "g",
    ),
    whole,
    /[0-9 .()-]/,
    24,
  );
