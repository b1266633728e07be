import { Transform, type TransformCallback } from "node:stream";
import { MaskingStream, maskText } from "../../gate/masking/index.ts";
import type { Counts } from "./json-content.ts";
import { JsonMasker } from "./json-masker.ts";
import type { MaskingRules } from "./masking-rules.ts";

/**
 * Masking of one body by its media type: JSON (and JSON lines, Kubernetes watch streams) by
 * path and by content detectors over decoded strings; text by content detectors over the byte
 * stream; anything else (images, archives, protobuf) passes untouched, since detectors would
 * only corrupt it. Both maskers stream with bounded memory; see JsonMasker and MaskingStream.
 */

export type BodyKind = "json" | "text" | "binary";

const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json(?:-seq|l)?\b|^application\/x-ndjson\b/i;
const TEXT_TYPE =
  /^text\/|^application\/(?:[\w.+-]*\+)?(?:xml|yaml|x-yaml|javascript|ecmascript|x-www-form-urlencoded|graphql|sql|csv)\b/i;

export function bodyKind(contentType: string | undefined): BodyKind {
  if (!contentType) return "text";
  const type = contentType.trim();
  if (JSON_TYPE.test(type)) return "json";
  if (TEXT_TYPE.test(type)) return "text";
  return "binary";
}

export interface MaskedField {
  field: string;
  rule: string;
  count: number;
}

export interface BodyMasker {
  stream: Transform;
  findings(): MaskedField[];
}

export interface MaskerLimits {
  maxValue: number;
  maxCarry: number;
}

/** A masking stream for a body of this kind, or null when nothing in it would be masked. */
export function bodyMasker(kind: BodyKind, rules: MaskingRules, limits: MaskerLimits): BodyMasker | null {
  if (kind === "binary") return null;
  if (kind === "json" && (rules.paths.length > 0 || rules.content.length > 0)) {
    const stream = new JsonMaskingStream(rules, limits);
    return { stream, findings: () => stream.findings() };
  }
  if (rules.content.length === 0) return null;
  const stream = new MaskingStream(rules.content, { maxCarry: limits.maxCarry });
  return {
    stream,
    findings: () => stream.findings().map((f) => ({ field: "body", rule: f.rule, count: f.count })),
  };
}

class JsonMaskingStream extends Transform {
  readonly #masker: JsonMasker;
  readonly #rules: MaskingRules;
  readonly #limits: MaskerLimits;
  #text: MaskingStream | null = null;

  constructor(rules: MaskingRules, limits: MaskerLimits) {
    super();
    this.#rules = rules;
    this.#limits = limits;
    this.#masker = new JsonMasker({
      paths: rules.paths,
      content: rules.content,
      maxValue: limits.maxValue,
      strict: rules.paths.length > 0,
      emit: (bytes) => this.push(bytes),
      raw: (bytes) => this.#textStream().write(bytes),
    });
  }

  findings(): MaskedField[] {
    return listOf(this.#masker.counts, this.#text?.findings());
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#masker.write(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#masker.end();
    } catch (error) {
      callback(error as Error);
      return;
    }
    const text = this.#text;
    if (!text) {
      callback();
      return;
    }
    text.once("end", () => callback());
    text.once("error", callback);
    text.end();
  }

  /** The rest of a body that turned out not to be JSON is masked as text. */
  #textStream(): MaskingStream {
    if (!this.#text) {
      const text = new MaskingStream(this.#rules.content, { maxCarry: this.#limits.maxCarry });
      text.on("data", (bytes: Buffer) => this.push(bytes));
      this.#text = text;
    }
    return this.#text;
  }
}

function listOf(counts: Counts, text: { rule: string; count: number }[] | undefined): MaskedField[] {
  const list: MaskedField[] = [...counts.values()].map((c) => ({
    field: c.field,
    rule: c.rule,
    count: c.count,
  }));
  for (const finding of text ?? []) list.push({ field: "body", rule: finding.rule, count: finding.count });
  return list;
}

/**
 * Masks a whole captured body at once (what the log keeps). A body that cannot be masked as
 * its rules require comes back as null: it is not recorded.
 */
export function maskCaptured(
  bytes: Buffer,
  kind: BodyKind,
  rules: MaskingRules,
  limits: MaskerLimits,
): string | null {
  if (kind === "binary") return `«${bytes.length} bytes of binary data»`;
  if (kind === "text") return maskText(bytes.toString("utf8"), rules.content).text;
  const out: Buffer[] = [];
  const raw: Buffer[] = [];
  const masker = new JsonMasker({
    paths: rules.paths,
    content: rules.content,
    maxValue: limits.maxValue,
    strict: rules.paths.length > 0,
    emit: (b) => out.push(b),
    raw: (b) => raw.push(b),
  });
  try {
    masker.write(bytes);
    masker.end();
  } catch {
    return null;
  }
  const head = Buffer.concat(out).toString("utf8");
  return raw.length === 0 ? head : head + maskText(Buffer.concat(raw).toString("utf8"), rules.content).text;
}
