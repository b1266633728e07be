import { createHmac } from "node:crypto";
import type { DetectorName, MaskStrategy, TextForm } from "./types.ts";

/**
 * How a detected value is replaced. Markers use guillemets so they cannot be mistaken for data
 * and trigger no detector: `«redacted:<detector>»` in text, `«redacted»` for a whole value,
 * `«hash:<16 hex>»` for the hash strategy (HMAC-SHA256 over the value's UTF-8 bytes).
 */

const toBytes = (s: string): string => Buffer.from(s, "utf8").toString("latin1");
const fromBytes = (s: string): string => Buffer.from(s, "latin1").toString("utf8");

export const DEFAULT_KEEP_END = 4;

const NON_ASCII = /[\u0080-\uffff]/;
const count = (n: number) => (Number.isFinite(n) ? Math.max(0, Math.floor(n)) : 0);

/** Keeps `keepStart`/`keepEnd` code points, at most half of them together; the rest becomes `*`. */
export function partial(value: string, keepStart = 0, keepEnd = DEFAULT_KEEP_END): string {
  if (!NON_ASCII.test(value)) {
    // One code point per character: the same as below, without splitting into an array.
    const allowed = Math.floor(value.length / 2);
    const start = Math.min(count(keepStart), allowed);
    const end = Math.min(count(keepEnd), allowed - start);
    return value.slice(0, start) + "*".repeat(value.length - start - end) + value.slice(value.length - end);
  }
  const chars = Array.from(value);
  const allowed = Math.floor(chars.length / 2);
  const start = Math.min(count(keepStart), allowed);
  const end = Math.min(count(keepEnd), allowed - start);
  return (
    chars.slice(0, start).join("") +
    "*".repeat(chars.length - start - end) +
    chars.slice(chars.length - end).join("")
  );
}

export function hashToken(salt: string, utf8: Buffer): string {
  return `«hash:${createHmac("sha256", salt).update(utf8).digest("hex").slice(0, 16)}»`;
}

const markers = { string: new Map<DetectorName, string>(), bytes: new Map<DetectorName, string>() };

function redacted(detector: DetectorName, form: TextForm): string {
  let marker = markers[form].get(detector);
  if (marker === undefined) {
    marker = `«redacted:${detector}»`;
    if (form === "bytes") marker = toBytes(marker);
    markers[form].set(detector, marker);
  }
  return marker;
}

/** The replacement for a value found inside running text. */
export function maskRegion(
  value: string,
  strategy: MaskStrategy,
  detector: DetectorName,
  form: TextForm,
): string {
  switch (strategy.kind) {
    case "redact":
    case "null":
      return redacted(detector, form);
    case "hash": {
      const token = hashToken(strategy.salt, Buffer.from(value, form === "bytes" ? "latin1" : "utf8"));
      return form === "bytes" ? toBytes(token) : token;
    }
    case "partial": {
      // ASCII reads the same as bytes and as a string.
      if (form === "string" || !NON_ASCII.test(value))
        return partial(value, strategy.keepStart, strategy.keepEnd);
      return toBytes(partial(fromBytes(value), strategy.keepStart, strategy.keepEnd));
    }
  }
}

/** maskRegion for a stream's bytes (`value` read as latin1), as a buffer of its own. */
export function maskRegionBytes(value: string, strategy: MaskStrategy, detector: DetectorName): Buffer {
  return Buffer.from(maskRegion(value, strategy, detector, "bytes"), "latin1");
}

/** Masks a whole value, e.g. a column: null stays null, `null` makes it null, `redact` gives `«redacted»`. */
export function maskValue(value: string | null, strategy: MaskStrategy): string | null {
  if (value === null) return null;
  switch (strategy.kind) {
    case "null":
      return null;
    case "redact":
      return "«redacted»";
    case "hash":
      return hashToken(strategy.salt, Buffer.from(value, "utf8"));
    case "partial":
      return partial(value, strategy.keepStart, strategy.keepEnd);
  }
}

export function checkStrategy(strategy: MaskStrategy): void {
  const kind = (strategy as { kind?: unknown }).kind;
  if (kind !== "redact" && kind !== "partial" && kind !== "hash" && kind !== "null")
    throw new RangeError(`unknown masking strategy ${JSON.stringify(kind)}`);
  if (kind === "hash" && typeof (strategy as { salt?: unknown }).salt !== "string")
    throw new RangeError("the hash masking strategy needs a salt");
}
