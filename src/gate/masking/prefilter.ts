/**
 * Where detectors need to look. Running every detector's regex over the whole text costs a pass
 * per detector; instead each detector names a finder for positions where one of its matches
 * could begin (a literal it starts with, a digit pattern every match contains), and its regex is
 * tried only there. Finders are found with native indexOf on a rare part of a literal, or with
 * one regex pass shared by several detectors, and each runs at most once per scanned text.
 *
 * A finder must return, in ascending order, every position where an accepted match can begin
 * (more is only slower); the prefilter tests (masking-prefilter.test.ts) hold every detector's
 * prefiltered scan to its plain scan of the whole text.
 */

/** Finds positions in a subject where a detector's match may begin, ascending. */
export interface Finder {
  /** Where a subject keeps what this finder found. */
  readonly id: number;
  readonly find: (subject: Subject) => readonly number[];
}

let finders = 0;

export function finder(find: (subject: Subject) => readonly number[]): Finder {
  return { id: finders++, find };
}

/** One text being scanned, with what finders found in it so far. */
export class Subject {
  readonly #found: (readonly number[] | undefined)[] = [];
  constructor(readonly text: string) {}

  find(finder: Finder): readonly number[] {
    let found = this.#found[finder.id];
    if (found === undefined) {
      found = finder.find(this);
      this.#found[finder.id] = found;
    }
    return found;
  }
}

/** Index of the first entry of `sorted` at or after `from`. */
export function firstFrom(sorted: readonly number[], from: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < from) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Every position of `char`: one native pass per text, shared by all finders that ask for it. */
const charFinders = new Map<string, Finder>();
export function charAt(char: string): Finder {
  let found = charFinders.get(char);
  if (found === undefined) {
    found = finder(({ text }) => {
      const at: number[] = [];
      for (let p = text.indexOf(char); p !== -1; p = text.indexOf(char, p + 1)) at.push(p);
      return at;
    });
    charFinders.set(char, found);
  }
  return found;
}

/**
 * Where one of `list` occurs (case-sensitive). `anchor`, a part of every word, is what is
 * searched: indexOf skips fast to its first character, so that should be a rare one. A
 * one-character anchor is searched once per text for every finder that uses it.
 */
export function words(list: readonly string[], anchor: string): Finder {
  const offsets = list.map((word) => {
    const at = word.indexOf(anchor);
    if (at === -1) throw new Error(`"${anchor}" is not part of "${word}"`);
    return at;
  });
  const firsts = list.map((word) => word.charCodeAt(0));
  const single = list.length === 1;
  const check = (text: string, p: number, found: number[]) => {
    for (let i = 0; i < list.length; i++) {
      const at = p - (offsets[i] as number);
      if (text.charCodeAt(at) === firsts[i] && text.startsWith(list[i] as string, at)) found.push(at);
    }
  };
  if (anchor.length === 1) {
    const positions = charAt(anchor);
    return finder((subject) => {
      const found: number[] = [];
      for (const p of subject.find(positions)) check(subject.text, p, found);
      return single ? found : sortUnique(found);
    });
  }
  return finder(({ text }) => {
    const found: number[] = [];
    for (let p = text.indexOf(anchor); p !== -1; p = text.indexOf(anchor, p + 1)) check(text, p, found);
    return single ? found : sortUnique(found);
  });
}

/**
 * Where `word` lies within the `span` characters before one of the positions `ends` finds: a
 * detector whose every match ends at such a character (a URL's userinfo at its "@") searches
 * for its start only there. `word` must not contain that character, so no occurrence straddles
 * one of the positions.
 */
export function wordsBefore(word: string, ends: Finder, span: number): Finder {
  return finder((subject) => {
    const { text } = subject;
    const found: number[] = [];
    let from = 0; // text before it was searched already
    for (const end of subject.find(ends)) {
      from = Math.max(from, end - span);
      if (end - from >= word.length) {
        // A slice of a V8 string shares its characters: this bounds the search to the window.
        const window = text.slice(from, end);
        for (let p = window.indexOf(word); p !== -1; p = window.indexOf(word, p + 1)) found.push(from + p);
      }
      from = Math.max(from, end);
    }
    return found;
  });
}

/** Whether `word` (lower-case ASCII letters) begins at `at` in any case, as a regex with the i flag compares. */
export function startsCaseless(text: string, word: string, at: number): boolean {
  if (at + word.length > text.length) return false;
  for (let i = 0; i < word.length; i++)
    if ((text.charCodeAt(at + i) | 0x20) !== word.charCodeAt(i)) return false;
  return true;
}

/**
 * Every word a detector finds in any case, found in one regex pass shared by those detectors
 * (faster than a pass each, and than lower-casing the text). Letter classes spelled out: this
 * way irregexp scans them faster than with the i flag.
 */
const CASELESS_WORDS = ["bearer", "aws", "secret", "passw", "pwd", "accountkey", "sharedaccess"];
const CASELESS = matches(
  new RegExp(
    CASELESS_WORDS.map((w) => [...w].map((c) => `[${c}${c.toUpperCase()}]`).join("")).join("|"),
    "g",
  ),
);

/** Where one of `list` (lower-case words, each beginning with one of CASELESS_WORDS) occurs in any case. */
export function caseless(list: readonly string[]): Finder {
  for (const word of list)
    if (!CASELESS_WORDS.some((w) => word.startsWith(w))) throw new Error(`"${word}" is not prefiltered`);
  return finder((subject) => {
    const found: number[] = [];
    const { text } = subject;
    for (const at of subject.find(CASELESS)) {
      for (const word of list) {
        if (startsCaseless(text, word, at)) {
          found.push(at);
          break;
        }
      }
    }
    return found;
  });
}

/** Every position where `re` (global) matches, overlapping matches included. */
export function matches(re: RegExp): Finder {
  return finder(({ text }) => {
    const found: number[] = [];
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      found.push(m.index);
      re.lastIndex = m.index + 1;
    }
    return found;
  });
}

/**
 * The positions of `base`, each mapped to positions `expand` pushes to `found` (none negative,
 * at most a few places out of order), ascending and unique.
 */
export function around(base: Finder, expand: (text: string, at: number, found: number[]) => void): Finder {
  return finder((subject) => {
    const found: number[] = [];
    for (const at of subject.find(base)) expand(subject.text, at, found);
    return sortUnique(found);
  });
}

/** Ascending with duplicates removed; `xs` is nearly sorted already (each entry off by a few places). */
export function sortUnique(xs: number[]): number[] {
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i] as number;
    let j = i - 1;
    if ((xs[j] as number) <= x) continue;
    while (j >= 0 && (xs[j] as number) > x) {
      xs[j + 1] = xs[j] as number;
      j--;
    }
    xs[j + 1] = x;
  }
  let n = 0;
  for (let i = 0; i < xs.length; i++) if (n === 0 || xs[n - 1] !== xs[i]) xs[n++] = xs[i] as number;
  if (n < xs.length) xs.length = n;
  return xs;
}
