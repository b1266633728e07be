import { caseless, charAt, type Subject, wordsBefore } from "../prefilter.ts";
import { type Pick, partialTrigger, regexScanner } from "../scan.ts";
import type { Scanner } from "../types.ts";

/**
 * Passwords written into connection strings. Only the password itself is masked:
 *  - URLs `scheme://user:password@host` (also `redis://:password@host`); the password runs to
 *    the last `@` before whitespace or `/`, so an unencoded `@` in it is still covered;
 *  - key/value strings (libpq, JDBC, ADO.NET, ODBC, query strings): `password=…`, `passwd=…`,
 *    `pwd=…` (any case, spaces around `=` allowed), bare or quoted. `pwd=` followed by `/` or
 *    `~` is a working directory (`env` output), not a password.
 */

const URL_USERINFO = /:\/\/(?<=[A-Za-z0-9]:\/\/)([^ \t\r\n\f\v:/?#@]{0,128}):([^ \t\r\n\f\v/]{1,256})@/g;
const URL_REACH = 3 + 128 + 1 + 256 + 2;
const SEPARATOR = /[ \t\r\n\f\v/]/;

const urlPick: Pick = (m) => {
  const end = m.index + m[0].length - 1;
  return { start: end - (m[2] ?? "").length, end };
};

/** Only the last `://` can be open: a later one's `/` ends any earlier userinfo. */
function urlPendingFrom({ text }: Subject): number {
  const floor = Math.max(0, text.length - URL_REACH);
  let at = -1; // the last "://" from `floor` on (searched forward: lastIndexOf would read the whole text)
  for (let p = text.indexOf("://", floor); p !== -1; p = text.indexOf("://", p + 1)) at = p;
  if (at >= floor && !SEPARATOR.test(text.slice(at + 3))) return at;
  const partial = text.endsWith(":/") ? text.length - 2 : text.endsWith(":") ? text.length - 1 : text.length;
  return Math.max(floor, partial);
}

// A match ends at an "@" at most 3 + 128 + 1 + 256 characters after its "://": "@" is rare, "/" is not.
const URL_START = wordsBefore("://", charAt("@"), 3 + 128 + 1 + 256);

export const urlPassword = (): Scanner =>
  regexScanner("url_password", URL_USERINFO, urlPick, URL_START, URL_REACH, urlPendingFrom);

const KEY_VALUE =
  /(?:password|passwd|pwd)(?<![A-Za-z0-9](?:password|passwd|pwd))[ \t]{0,8}=[ \t]{0,8}(?:'((?:[^'\\\r\n]|\\.){1,256})'|"((?:[^"\\\r\n]|\\.){1,256})"|([^ \t\r\n\f\v;&'"]{1,256}))/dgi;
const KEY_VALUE_REACH = 8 + 8 + 1 + 8 + 258 + 1;
const KEY_TRIGGER = /p(?:assw(?:or)?d|wd)/gi;

const keyValuePick: Pick = (m) => {
  const group = m[1] !== undefined ? 1 : m[2] !== undefined ? 2 : 3;
  const span = m.indices?.[group];
  if (span === undefined) return null;
  const value = m[group] ?? "";
  if (group === 3 && /^pwd/i.test(m[0]) && (value.startsWith("/") || value.startsWith("~"))) return null;
  return { start: span[0], end: span[1] };
};

/** A key/value attempt never reads past the end of its line. */
function keyValuePendingFrom({ text }: Subject): number {
  const floor = Math.max(0, text.length - KEY_VALUE_REACH);
  let from = floor; // where the last line begins, if after `floor`
  for (let i = text.length - 1; i >= floor; i--) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) {
      from = i + 1;
      break;
    }
  }
  KEY_TRIGGER.lastIndex = from; // the first trigger on the line is open (or one cut by the end)
  const at = KEY_TRIGGER.exec(text)?.index;
  return at ?? Math.max(from, partialTrigger(text, ["password", "passwd", "pwd"], true));
}

const KEY_START = caseless(["passw", "pwd"]);

export const keyValuePassword = (): Scanner =>
  regexScanner("url_password", KEY_VALUE, keyValuePick, KEY_START, KEY_VALUE_REACH, keyValuePendingFrom);
