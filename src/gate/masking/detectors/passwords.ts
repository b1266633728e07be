import { firstOpenTrigger, type Pick, scanRegex } from "../scan.ts";
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
function urlPendingFrom(text: string): number {
  const floor = Math.max(0, text.length - URL_REACH);
  const at = text.lastIndexOf("://");
  if (at >= floor && !SEPARATOR.test(text.slice(at + 3))) return at;
  const partial = text.endsWith(":/") ? text.length - 2 : text.endsWith(":") ? text.length - 1 : text.length;
  return Math.max(floor, partial);
}

export const urlPassword = (): Scanner => ({
  name: "url_password",
  reach: URL_REACH,
  scan: (text, from, out) => scanRegex(URL_USERINFO, urlPick, text, from, out),
  pendingFrom: urlPendingFrom,
});

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
function keyValuePendingFrom(text: string): number {
  const floor = Math.max(0, text.length - KEY_VALUE_REACH);
  const lineStart = Math.max(text.lastIndexOf("\n"), text.lastIndexOf("\r")) + 1;
  const from = Math.max(floor, lineStart);
  return firstOpenTrigger(text, KEY_TRIGGER, ["password", "passwd", "pwd"], from, () => true);
}

export const keyValuePassword = (): Scanner => ({
  name: "url_password",
  reach: KEY_VALUE_REACH,
  scan: (text, from, out) => scanRegex(KEY_VALUE, keyValuePick, text, from, out),
  pendingFrom: keyValuePendingFrom,
});
