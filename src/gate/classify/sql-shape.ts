/**
 * A statement's shape: its text with every numeric literal and standard string literal
 * replaced by a marker, so `… WHERE aid = 17` and `… WHERE aid = 4242` share one. Agents (and
 * pgbench) send the same statements with different constants; what depends only on a
 * statement's structure (its classification, when no constant can change it, its lineage, the
 * names it uses) is cached by shape and the text is not parsed again.
 *
 * Two texts have the same shape only if they differ in nothing but such literals. The lexer is
 * deliberately small: whatever it does not follow exactly (dollar quotes, E'' and other
 * prefixed strings, backslashes, block comments, odd numbers like `1e` or `0x1F`) gives
 * undefined, and the caller keys by the exact text instead.
 */

const NUMBER = "\u0001N";
const STRING = "\u0001S";

/** Identifier characters as PostgreSQL's lexer has them (any non-ASCII character counts). */
function isIdentChar(code: number): boolean {
  return (
    (code >= 97 && code <= 122) || // a-z
    (code >= 65 && code <= 90) || // A-Z
    (code >= 48 && code <= 57) || // 0-9
    code === 95 || // _
    code === 36 || // $
    code > 127
  );
}

const isDigit = (code: number) => code >= 48 && code <= 57;

/** The index after the quoted token opening at `start` (a doubled quote stays inside), or -1 if unterminated. */
function afterQuoted(text: string, start: number, quote: "'" | '"'): number {
  for (let j = start + 1; ; ) {
    const q = text.indexOf(quote, j);
    if (q === -1) return -1;
    if (text[q + 1] !== quote) return q + 1;
    j = q + 2;
  }
}

// The classifier, the catalog and lineage each ask for the shape of the same statement in turn.
let lastText: string | undefined;
let lastShape: string | undefined;

/** The shape of `text`, or undefined when it has no literal to replace or the lexer cannot vouch for it. */
export function sqlShape(text: string): string | undefined {
  if (text !== lastText) {
    lastShape = lex(text);
    lastText = text;
  }
  return lastShape;
}

function lex(text: string): string | undefined {
  if (text.includes("\u0001")) return undefined;
  let out = "";
  let copied = 0; // text[copied, i) is still to be copied verbatim
  let replaced = false;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    const prevIdent = i > 0 && isIdentChar(text.charCodeAt(i - 1));
    if (c === 39 /* ' */) {
      if (prevIdent) return undefined; // E'…', U&'…', B'…', X'…', N'…'
      const j = afterQuoted(text, i, "'");
      if (j === -1) return undefined;
      // With standard_conforming_strings off a backslash escapes: never guess.
      if (text.slice(i, j).includes("\\")) return undefined;
      out += text.slice(copied, i) + STRING;
      copied = i = j;
      replaced = true;
    } else if (c === 34 /* " */) {
      i = afterQuoted(text, i, '"');
      if (i === -1) return undefined;
    } else if (c === 45 /* - */ && text.charCodeAt(i + 1) === 45) {
      const end = text.indexOf("\n", i);
      i = end === -1 ? n : end + 1;
    } else if (c === 47 /* / */ && text.charCodeAt(i + 1) === 42 /* * */) {
      return undefined; // block comments nest: not followed here
    } else if (c === 36 /* $ */ && !prevIdent) {
      if (!isDigit(text.charCodeAt(i + 1))) return undefined; // a dollar quote
      i += 2;
      while (i < n && isDigit(text.charCodeAt(i))) i++; // a parameter, $1: kept as written
    } else if (isDigit(c) && !prevIdent && text.charCodeAt(i - 1) !== 46 /* . */) {
      let j = i;
      while (j < n && isDigit(text.charCodeAt(j))) j++;
      if (text.charCodeAt(j) === 46 && isDigit(text.charCodeAt(j + 1))) {
        j += 1;
        while (j < n && isDigit(text.charCodeAt(j))) j++;
      }
      const e = text.charCodeAt(j);
      if (e === 101 || e === 69) {
        let k = j + 1;
        const sign = text.charCodeAt(k);
        if (sign === 43 || sign === 45) k++;
        if (!isDigit(text.charCodeAt(k))) return undefined;
        while (k < n && isDigit(text.charCodeAt(k))) k++;
        j = k;
      }
      if (j < n && (isIdentChar(text.charCodeAt(j)) || text.charCodeAt(j) === 46)) return undefined;
      out += text.slice(copied, i) + NUMBER;
      copied = i = j;
      replaced = true;
    } else {
      i++;
    }
  }
  return replaced ? out + text.slice(copied) : undefined;
}

/** A cache key standing for the text's shape when it has one, else for the exact text (never equal to a shape's). */
export function shapeKey(text: string): string {
  const shape = sqlShape(text);
  return shape === undefined ? `=${text}` : `~${shape}`;
}
