import { type Finder, firstFrom, type Subject } from "./prefilter.ts";
import type { DetectorName, Scanner, Span } from "./types.ts";

/**
 * Small building blocks shared by the detectors: ASCII class tables, the regex scan loop, and
 * the "what could still change" questions a stream asks at a chunk's end.
 */

/** Membership by character code; entry 128 stands for every non-ASCII code (byte). */
export type CharSet = Uint8Array;

/** The ASCII characters a one-character regex class accepts, and non-ASCII ones if `nonAscii`. */
export function charSet(charClass: RegExp, nonAscii = false): CharSet {
  const table = new Uint8Array(129);
  for (let c = 0; c < 128; c++) table[c] = charClass.test(String.fromCharCode(c)) ? 1 : 0;
  table[128] = nonAscii ? 1 : 0;
  return table;
}

export function inSet(set: CharSet, code: number): boolean {
  return set[Math.min(code, 128)] === 1;
}

/** Start of the run of `set` characters that ends the text, looking back no further than `floor`. */
export function trailingRun(text: string, set: CharSet, floor: number): number {
  let i = text.length;
  while (i > floor && inSet(set, text.charCodeAt(i - 1))) i--;
  return i;
}

/** Where the text's tail begins, if that tail is a proper prefix of one of `triggers` (else the length). */
export function partialTrigger(text: string, triggers: readonly string[], ignoreCase = false): number {
  const keep = Math.max(...triggers.map((t) => t.length)) - 1;
  const tail = keep > 0 ? text.slice(-keep) : "";
  const hay = ignoreCase ? tail.toLowerCase() : tail;
  for (let k = hay.length; k > 0; k--) {
    const end = hay.slice(hay.length - k);
    if (triggers.some((t) => t.startsWith(end))) return text.length - k;
  }
  return text.length;
}

/**
 * Streaming finality for detectors whose every read stops at the first character outside
 * `set`: an attempt before the text's trailing run of `set` is decided.
 */
export function runPending(set: CharSet, reach: number): (subject: Subject) => number {
  return ({ text }) => {
    const floor = Math.max(0, text.length - reach);
    return Math.max(floor, trailingRun(text, set, floor));
  };
}

/** Picks the masked region of a regex match, or null when the match fails validation. */
export type Pick = (m: RegExpExecArray, text: string) => { start: number; end: number } | null;

/**
 * The regex scan loop. `re` must be global. A rejected match retries one character later, an
 * accepted one continues after it, so the result at a position depends only on nearby text.
 */
export function scanRegex(re: RegExp, pick: Pick, text: string, from: number, out: Span[]): void {
  re.lastIndex = from;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const region = pick(m, text);
    const resume = m.index + m[0].length;
    if (region === null) {
      re.lastIndex = m.index + 1;
      continue;
    }
    out.push({ at: m.index, start: region.start, end: region.end, resume });
    re.lastIndex = resume;
  }
}

/**
 * The regex scan loop run only at `candidates` (ascending): `sticky` is the scan's regex with
 * the y flag instead of g. The same matches as scanRegex when every accepted match begins at
 * a candidate, since the global regex finds the leftmost position where it matches, and there
 * it matches exactly as the sticky one does.
 */
export function scanCandidates(
  sticky: RegExp,
  pick: Pick,
  text: string,
  candidates: readonly number[],
  from: number,
  out: Span[],
): void {
  let floor = from;
  for (let i = firstFrom(candidates, from); i < candidates.length; i++) {
    const at = candidates[i] as number;
    if (at < floor) continue;
    sticky.lastIndex = at;
    const m = sticky.exec(text);
    if (m === null) continue;
    const region = pick(m, text);
    if (region === null) continue;
    const resume = at + m[0].length;
    out.push({ at, start: region.start, end: region.end, resume });
    floor = resume;
  }
}

/** A detector that is one global regex, tried where `candidates` points; see scanCandidates. */
export function regexScanner(
  name: DetectorName,
  re: RegExp,
  pick: Pick,
  candidates: Finder,
  reach: number,
  pendingFrom: (subject: Subject) => number,
): Scanner {
  const sticky = new RegExp(re.source, `${re.flags.replace("g", "")}y`);
  return {
    name,
    reach,
    scan: (subject, from, out) =>
      scanCandidates(sticky, pick, subject.text, subject.find(candidates), from, out),
    reference: (text, from, out) => scanRegex(re, pick, text, from, out),
    pendingFrom,
  };
}

/** A regexScanner whose matches are runs of `alphabet`: an attempt is final once the text's trailing run is passed. */
export function runScanner(
  name: DetectorName,
  re: RegExp,
  pick: Pick,
  candidates: Finder,
  alphabet: RegExp,
  reach: number,
): Scanner {
  return regexScanner(name, re, pick, candidates, reach, runPending(charSet(alphabet), reach));
}

/** The whole match is the masked region. */
export const whole: Pick = (m) => ({ start: m.index, end: m.index + m[0].length });

/** The last capture group (which must end `tailLength` characters before the match's end) is masked. */
export function lastGroup(tailLength = 0): Pick {
  return (m) => {
    const value = m[m.length - 1];
    if (value === undefined || value.length === 0) return null;
    const end = m.index + m[0].length - tailLength;
    return { start: end - value.length, end };
  };
}
