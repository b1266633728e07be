import type { Span } from "./types.ts";

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
export function runPending(set: CharSet, reach: number): (text: string) => number {
  return (text) => {
    const floor = Math.max(0, text.length - reach);
    return Math.max(floor, trailingRun(text, set, floor));
  };
}

/**
 * Streaming finality for trigger-anchored detectors: the first trigger at or after `from`
 * whose attempt `isOpen` says could still change, or a trigger cut by the text's end.
 */
export function firstOpenTrigger(
  text: string,
  trigger: RegExp,
  literals: readonly string[],
  from: number,
  isOpen: (at: number) => boolean,
): number {
  trigger.lastIndex = from;
  for (let m = trigger.exec(text); m !== null; m = trigger.exec(text)) {
    if (isOpen(m.index)) return m.index;
    trigger.lastIndex = m.index + 1;
  }
  return Math.max(from, partialTrigger(text, literals, trigger.ignoreCase));
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
 * The same loop for a regex whose matches all begin with `trigger`: the trigger is found with
 * indexOf and the sticky regex tried only there, much faster when the trigger is one common
 * character. `sticky` must have the y flag.
 */
export function scanAnchored(
  trigger: string,
  sticky: RegExp,
  pick: Pick,
  text: string,
  from: number,
  out: Span[],
): void {
  for (let at = text.indexOf(trigger, from); at !== -1; ) {
    sticky.lastIndex = at;
    const m = sticky.exec(text);
    const region = m === null ? null : pick(m, text);
    if (m === null || region === null) {
      at = text.indexOf(trigger, at + 1);
      continue;
    }
    const resume = at + m[0].length;
    out.push({ at, start: region.start, end: region.end, resume });
    at = text.indexOf(trigger, resume);
  }
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
