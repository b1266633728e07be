/**
 * The masking engine every proxy uses: content detectors (detectors/), strategies, masking of
 * one value (maskText, maskValue) and of a byte stream (MaskingStream), with equal results.
 *
 * Replacements: `«redacted:<detector>»` (redact, and null inside text), `«redacted»` and null
 * for whole values, `«hash:<16 hex>»` (HMAC-SHA256 with the rule's salt), `*` for partial.
 * Overlapping matches are masked as one region by the first match's rule (spans.ts).
 * Detectors run their regexes only where a shared prefilter pass points (prefilter.ts).
 * ChunkMasker is MaskingStream's engine without the Transform (the SSH port's mask workers).
 * Rule arrays are compiled once per array: treat them as immutable, like policy snapshots.
 */
export { ChunkMasker } from "./chunk-masker.ts";
export { DETECTOR_NAMES } from "./detectors.ts";
export { MaskingStream, type MaskingStreamOptions } from "./mask-stream.ts";
export { type MaskTextOptions, maskText } from "./mask-text.ts";
export { maskValue } from "./strategies.ts";
export {
  type ContentRule,
  DEFAULT_MAX_SECRET,
  type DetectorName,
  type MaskFinding,
  type MaskStrategy,
} from "./types.ts";
