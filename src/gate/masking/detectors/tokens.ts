import { caseless, charAt, finder, sortUnique, words } from "../prefilter.ts";
import { charSet, lastGroup, type Pick, regexScanner, runScanner, trailingRun, whole } from "../scan.ts";
import type { Scanner } from "../types.ts";

/**
 * Bearer tokens and vendor tokens with a fixed prefix. Each regex starts with its literal
 * prefix (fast to find) and checks the character before it with a lookbehind, so a token is
 * only tried where a word starts; every repetition is bounded.
 */

const JWT_HEADER_MAX = 1024;
const JWT_SIGNATURE_MAX = 1400; // RS512 with an 8192-bit key: 1366 characters
const JWT_START = words(["eyJ"], "J"); // an upper-case J is rarer than an e

/** A JWT's header must decode to a JSON object naming its algorithm. */
const jwtPick: Pick = (m) => {
  const header = m[0].slice(0, m[0].indexOf("."));
  if (header.length < 15) return null; // shorter than base64url('{"alg":"x"}')
  const json = Buffer.from(header, "base64url").toString("utf8");
  if (!json.includes('"alg"')) return null; // cheap before JSON.parse and its exceptions
  try {
    const decoded: unknown = JSON.parse(json);
    if (typeof decoded !== "object" || decoded === null) return null;
    if (typeof (decoded as { alg?: unknown }).alg !== "string") return null;
  } catch {
    return null;
  }
  return { start: m.index, end: m.index + m[0].length };
};

export function jwt(limit: number): Scanner {
  const payload = limit - JWT_HEADER_MAX - JWT_SIGNATURE_MAX - 8;
  // A longer signature part is cut at its bound and masked up to there.
  const re = new RegExp(
    `eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{1,${JWT_HEADER_MAX - 3}}\\.[A-Za-z0-9_-]{1,${payload}}` +
      `\\.[A-Za-z0-9_-]{0,${JWT_SIGNATURE_MAX}}`,
    "g",
  );
  return runScanner("jwt", re, jwtPick, JWT_START, /[A-Za-z0-9_.-]/, limit);
}

/** Real bearer tokens carry a digit or are long; this spares prose like "Bearer authentication". */
const bearerPick: Pick = (m, text) => {
  const token = m[1] ?? "";
  if (token.length < 20 && !/[0-9]/.test(token)) return null;
  return lastGroup()(m, text);
};

const BEARER = caseless(["bearer"]);
const BEARER_TOKEN = charSet(/[A-Za-z0-9._~+/=-]/);

/** Open: the trailing token run, and the `Bearer` and blanks right before it, if there. */
function bearerPendingFrom(limit: number, text: string): number {
  const floor = Math.max(0, text.length - limit);
  const run = trailingRun(text, BEARER_TOKEN, floor);
  let blank = run;
  while (blank > run - 8 && blank > floor && /[ \t]/.test(text[blank - 1] ?? "")) blank--;
  const prefixed = blank < run && blank >= 6 && text.slice(blank - 6, blank).toLowerCase() === "bearer";
  return Math.max(floor, prefixed ? blank - 6 : run);
}

export function bearerToken(limit: number): Scanner {
  const token = limit - 32;
  const re = new RegExp(
    `bearer(?<![A-Za-z0-9_]bearer)[ \\t]{1,8}([A-Za-z0-9._~+/-]{8,${token}}={0,2})`,
    "gi",
  );
  return regexScanner("bearer_token", re, bearerPick, BEARER, limit, ({ text }) =>
    bearerPendingFrom(limit, text),
  );
}

export const awsAccessKeyId = (): Scanner =>
  runScanner(
    "aws_access_key_id",
    /(?:AKIA|ASIA)(?<![A-Za-z0-9](?:AKIA|ASIA))[A-Z0-9]{16}(?![A-Za-z0-9])/g,
    whole,
    words(["AKIA", "ASIA"], "IA"),
    /[A-Za-z0-9]/,
    22,
  );

export const gcpApiKey = (): Scanner =>
  runScanner(
    "gcp_api_key",
    /AIza(?<![A-Za-z0-9_-]AIza)[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])/g,
    whole,
    words(["AIza"], "z"),
    /[A-Za-z0-9_-]/,
    41,
  );

/** Classic tokens (gh?_: ghp_, gho_, …) and fine-grained ones (github_pat_), found by their "_". */
const GITHUB_START = finder((subject) => {
  const { text } = subject;
  const found: number[] = [];
  for (const p of subject.find(charAt("_"))) {
    if (text.charCodeAt(p - 3) === 103 && text.charCodeAt(p - 2) === 104) found.push(p - 3);
    else if (text.charCodeAt(p - 6) === 103 && text.startsWith("github_pat_", p - 6)) found.push(p - 6);
  }
  return sortUnique(found);
});

export const githubToken = (): Scanner =>
  runScanner(
    "github_token",
    /g(?<![A-Za-z0-9_]g)(?:h[pousr]_[A-Za-z0-9]{36,251}|ithub_pat_[A-Za-z0-9_]{22,244})(?![A-Za-z0-9_])/g,
    whole,
    GITHUB_START,
    /[A-Za-z0-9_]/,
    256,
  );

/** GitLab tokens may contain dots (routable format); a sentence's final dot is not part of one. */
const gitlabPick: Pick = (m) => {
  let end = m.index + m[0].length;
  while (m.input.charCodeAt(end - 1) === 46) end--;
  return end - m.index >= 26 ? { start: m.index, end } : null;
};

export const gitlabToken = (): Scanner =>
  runScanner(
    "gitlab_token",
    /glpat-(?<![A-Za-z0-9_.-]glpat-)[A-Za-z0-9_.-]{20,300}(?![A-Za-z0-9_.-])/g,
    gitlabPick,
    words(["glpat-"], "glpat-"),
    /[A-Za-z0-9_.-]/,
    310,
  );

export const slackToken = (): Scanner =>
  runScanner(
    "slack_token",
    /xox[abposr]-(?<![A-Za-z0-9_-]xox[abposr]-)[A-Za-z0-9-]{10,250}/g,
    whole,
    words(["xox"], "x"),
    /[A-Za-z0-9_-]/,
    260,
  );
