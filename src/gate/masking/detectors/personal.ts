import { IBAN_LENGTHS, ibanValid, luhnValid } from "../checksums.ts";
import { around, finder, matches } from "../prefilter.ts";
import { charSet, inSet, type Pick, runPending, runScanner, whole } from "../scan.ts";
import type { Scanner, Span } from "../types.ts";

/** Personal data: e-mail addresses, card numbers, IBANs, US social security numbers, phone numbers. */

const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * Cards, SSNs and North American numbers all hold a digit, one of ` .-`, then four digits
 * (`…1 1111`, `078-05-1120`, `555-0199`), or, cards without separators, eight digits in a row.
 * One regex pass finds where (written out: irregexp skips faster than with `{4}`); each
 * detector then tries its own regex at the few starts that can lead there. Such a spot is the
 * last digit of a run of digits, or (eight in a row) its first: the pass skips the digits in
 * between, so long numbers cost one spot, not one per digit.
 */
const SPOT = /[0-9](?:[ .-][0-9][0-9][0-9][0-9]|[0-9][0-9][0-9][0-9][0-9][0-9][0-9])/g;
const DIGIT_SPOTS = finder(({ text }) => {
  const found: number[] = [];
  SPOT.lastIndex = 0;
  for (let m = SPOT.exec(text); m !== null; m = SPOT.exec(text)) {
    found.push(m.index);
    let next = m.index + 1;
    while (isDigit(text.charCodeAt(next)) && isDigit(text.charCodeAt(next + 1))) next++;
    SPOT.lastIndex = next;
  }
  return found;
});

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
  scan: (subject, from, out) => scanEmail(subject.text, from, out),
  reference: scanEmail,
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

/** A card starts 3 before a spot (`4111 1111`) or at it (eight digits in a row), with a digit 2–6. */
const CARD_STARTS = around(DIGIT_SPOTS, (text, spot, found) => {
  const before = text.charCodeAt(spot - 3); // NaN before the text's start
  if (before >= 50 && before <= 54) found.push(spot - 3);
  const at = text.charCodeAt(spot);
  if (at >= 50 && at <= 54) found.push(spot);
});

// Every card format begins with four digits and a group of at least four: checking that first
// (before the lookbehind) makes the many short numbers in logs fail fast.
export const creditCard = (): Scanner =>
  runScanner(
    "credit_card",
    /[2-6][0-9]{3}(?<![0-9][2-6][0-9]{3})[ -]?[0-9]{4}(?:[ -]?[0-9]){5,11}(?![0-9])/g,
    cardPick,
    CARD_STARTS,
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

/** An IBAN starts with its country code and check digits (the lookahead: irregexp scans faster so). */
const IBAN_STARTS = matches(/[A-Z][A-Z](?=[0-9][0-9])/g);

export const iban = (): Scanner =>
  runScanner(
    "iban",
    /[A-Z]{2}(?<![A-Za-z0-9][A-Z]{2})[0-9]{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])/g,
    ibanPick,
    IBAN_STARTS,
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

/** An SSN starts 5 before its spot (`078-0[5-1120]`). */
const SSN_STARTS = around(DIGIT_SPOTS, (text, spot, found) => {
  if (isDigit(text.charCodeAt(spot - 5))) found.push(spot - 5);
});

export const usSsn = (): Scanner =>
  runScanner(
    "us_ssn",
    /[0-9]{3}(?<![0-9][0-9]{3})(?<![0-9]-[0-9]{3})-[0-9]{2}-[0-9]{4}(?![0-9]|-[0-9])/g,
    ssnPick,
    SSN_STARTS,
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

const INTERNATIONAL = /\+[1-9](?<![A-Za-z0-9+]\+[1-9])(?:[ .-]?(?:[0-9]|\([0-9]{1,4}\))){6,16}(?![0-9])/g;

/** Every `+` followed by a digit 1–9 (JSON timestamps are full of `+00`). */
const PLUS_STARTS = finder(({ text }) => {
  const found: number[] = [];
  for (let p = text.indexOf("+"); p !== -1; p = text.indexOf("+", p + 1)) {
    const c = text.charCodeAt(p + 1);
    if (c >= 49 && c <= 57) found.push(p);
  }
  return found;
});

export const internationalPhone = (): Scanner =>
  runScanner("phone", INTERNATIONAL, internationalPick, PLUS_STARTS, /[0-9 .()+-]/, 120);

/**
 * North American numbers: (NXX) NXX-XXXX, NXX-NXX-XXXX, NXX.NXX.XXXX, optionally after `1`.
 * Each alternative starts with its first character and checks what precedes it afterwards.
 */
/** Before its spot (`[2-9]XX[.-]XXXX`) a number has 4 to 8 characters, starting with `1`, `(` or 2–9. */
const NORTH_AMERICAN_STARTS = around(DIGIT_SPOTS, (text, spot, found) => {
  for (let at = Math.max(0, spot - 10); at <= spot - 6; at++) {
    const c = text.charCodeAt(at);
    if (c === 40 || (c >= 49 && c <= 57)) found.push(at);
  }
});

export const northAmericanPhone = (): Scanner =>
  runScanner(
    "phone",
    new RegExp(
      "(?:1(?<![A-Za-z0-9_.+-]1)[ .-]?(?:\\([2-9][0-9]{2}\\) ?|[2-9][0-9]{2}[.-])" +
        "|\\((?<![A-Za-z0-9_.+-]\\()[2-9][0-9]{2}\\) ?" +
        "|[2-9](?<![A-Za-z0-9_.+-][2-9])[0-9]{2}[.-])" +
        "[2-9][0-9]{2}[.-][0-9]{4}(?![0-9]|[.-][0-9])",
      "g",
    ),
    whole,
    NORTH_AMERICAN_STARTS,
    /[0-9 .()-]/,
    24,
  );
