/** Byte-level pieces of reading JSON: string tokens, escapes, literal boundaries. */

export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;

export class NotJson extends Error {
  constructor(message = "the body is not JSON") {
    super(message);
  }
}

/** A held string token, quotes included, decoded. */
export function decodeString(raw: Buffer): string {
  if (raw.indexOf(BACKSLASH) === -1) return raw.toString("utf8", 1, raw.length - 1);
  try {
    return JSON.parse(raw.toString("utf8")) as string;
  } catch {
    throw new NotJson("a JSON string with an invalid escape");
  }
}

/** How many backslashes directly precede `end`, not looking before `floor`. */
export function backslashesBefore(chunk: Buffer, end: number, floor: number): number {
  let at = end;
  while (at > floor && chunk[at - 1] === BACKSLASH) at--;
  return end - at;
}

export function isDelimiter(byte: number): boolean {
  return (
    byte === 0x2c ||
    byte === 0x7d ||
    byte === 0x5d ||
    byte === 0x20 ||
    byte === 0x0a ||
    byte === 0x0d ||
    byte === 0x09
  );
}

export function isLiteralStart(byte: number): boolean {
  return byte === 0x2d || (byte >= 0x30 && byte <= 0x39) || byte === 0x74 || byte === 0x66 || byte === 0x6e;
}
