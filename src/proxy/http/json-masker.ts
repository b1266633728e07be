import { SluiceError } from "../../errors.ts";
import type { ContentRule } from "../../gate/masking/index.ts";
import { ContentBatch, type Counts } from "./json-content.ts";
import { type PathMatcher, root, type Segment, type States, step } from "./json-path.ts";
import {
  backslashesBefore,
  decodeString,
  isDelimiter,
  isLiteralStart,
  NotJson,
  QUOTE,
} from "./json-tokens.ts";

/**
 * Masks a JSON body as it streams, in bounded memory, changing only the values it masks: every
 * other byte (whitespace, key order, number spelling) passes through as the upstream sent it.
 * A sequence of top-level values (Kubernetes watch events, JSON lines) is masked value by value.
 *
 * Two kinds of masking: values at a JSON path rule (a matched object or array masks every
 * scalar below it), and content detectors over every other string value, decoded. Only strings
 * that detectors must read, or that a hash/partial strategy needs, are held, each up to
 * `maxValue` bytes. When the body turns out not to be JSON, or a string is longer than that,
 * a non-strict masker hands the rest to text masking (`raw`); a strict one (path rules in
 * force, e.g. Kubernetes Secrets) refuses instead, since text masking cannot find paths.
 */

export interface JsonPathRule {
  segments: Segment[];
  /** Recorded as CommandCompleted.masked: the rule, and the path as written. */
  rule: string;
  field: string;
  /** Whether the replacement reads the value (hash, partial); otherwise its bytes are dropped unread. */
  needsValue: boolean;
  /** JSON text for a scalar: a decoded string, a number or boolean's text, or null for `null`. */
  replace(value: string | null): string;
  /** JSON text for a string longer than the masker may hold. */
  oversized: string;
}

export interface JsonMaskerOptions {
  paths: readonly JsonPathRule[];
  content: readonly ContentRule[];
  maxValue: number;
  strict: boolean;
  /** Masked bytes, in order. */
  emit(bytes: Buffer): void;
  /** After a fallback: raw bytes for the text masker, in order (never called when strict). */
  raw(bytes: Buffer): void;
}

enum S {
  Value,
  AfterValue,
  Key,
  Colon,
  String,
  Literal,
}
enum Hold {
  None,
  Keep,
  Drop,
}
interface Frame {
  array: boolean;
  index: number;
  key: string | number | null;
  states: States;
  masked: number;
}

const EMPTY = Buffer.alloc(0);
const MAX_DEPTH = 512;
const MAX_KEY = 256;

export class JsonMasker {
  /** What was masked, by field (path or "body") and rule. */
  get counts(): Counts {
    return this.#content.counts;
  }
  fellBack = false;
  readonly #o: JsonMaskerOptions;
  readonly #matcher: PathMatcher<JsonPathRule>;
  readonly #root: { states: States; matched: number };
  #valueStates: States = [];
  #valueMasked = -1;
  readonly #stack: Frame[] = [];
  #state = S.Value;
  // The token being read: a string (value or key) or a literal, its path rule and hold mode.
  #isKey = false;
  #escape = false;
  #rule = -1;
  #hold = Hold.None;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #tooLong = false;
  #key: Buffer[] | null = null;
  #keyBytes = 0;
  /** What this chunk produces, emitted at its end, once the strings deferred to #content are masked. */
  #out: Buffer[] = [];
  readonly #content: ContentBatch;

  constructor(options: JsonMaskerOptions) {
    this.#o = options;
    this.#matcher = { rules: options.paths.map((rule) => ({ segments: rule.segments, rule })) };
    this.#root = root(this.#matcher.rules);
    this.#content = new ContentBatch(options.content);
  }

  write(chunk: Buffer): void {
    if (this.fellBack) {
      this.#o.raw(chunk);
      return;
    }
    let from = 0;
    let i = 0;
    const end = chunk.length;
    try {
      while (i < end) {
        switch (this.#state) {
          case S.String: {
            const stop = this.#scanString(chunk, i);
            if (stop === -1) {
              i = end;
              break;
            }
            i = stop + 1;
            if (this.#isKey) {
              this.#endKey();
              this.#state = S.Colon;
            } else {
              if (this.#hold !== Hold.None) from = this.#endHeld(chunk, from, i, true);
              this.#afterValue();
            }
            break;
          }
          case S.Literal: {
            while (i < end && !isDelimiter(chunk[i] as number)) i++;
            if (i === end) break;
            if (this.#hold !== Hold.None) from = this.#endHeld(chunk, from, i, false);
            this.#afterValue();
            break;
          }
          default: {
            const byte = chunk[i] as number;
            if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) {
              i++;
              break;
            }
            from = this.#structural(byte, chunk, from, i);
            i++;
          }
        }
      }
    } catch (error) {
      if (!(error instanceof NotJson) || this.#o.strict) throw refusal(error);
      this.#fallBack(chunk, from);
      return;
    }
    if (this.#hold === Hold.Keep) this.#keep(chunk.subarray(from));
    else if (this.#hold === Hold.None && from < end)
      this.#out.push(from === 0 ? chunk : chunk.subarray(from));
    this.#flush();
  }

  /** The body ended: a value cut short is finished as far as masking goes (what is held is masked). */
  end(): void {
    if (this.fellBack || this.#hold === Hold.None) return;
    const rule = this.#rule === -1 ? undefined : this.#o.paths[this.#rule];
    if (this.#state === S.Literal) {
      this.#endHeld(EMPTY, 0, 0, false);
    } else if (rule) {
      this.#count(rule);
      this.#out.push(Buffer.from(rule.oversized, "utf8"));
    } else {
      // A string the body cut short: its text is masked as text.
      this.#out.push(Buffer.from(this.#maskContent(Buffer.concat(this.#held).toString("utf8")), "utf8"));
    }
    this.#hold = Hold.None;
    this.#held = [];
    this.#flush();
  }

  #structural(byte: number, chunk: Buffer, from: number, i: number): number {
    const top = this.#stack[this.#stack.length - 1];
    switch (this.#state) {
      case S.Value:
        if ((byte === 0x5d && top?.array) || (byte === 0x7d && top && !top.array)) return this.#close(from);
        return this.#beginValue(byte, chunk, from, i);
      case S.Key:
        if (byte === QUOTE) {
          this.#state = S.String;
          this.#isKey = true;
          this.#escape = false;
          this.#key = top && top.states.length > 0 ? [] : null;
          this.#keyBytes = 0;
          return from;
        }
        if (byte === 0x7d) return this.#close(from);
        throw new NotJson();
      case S.Colon:
        if (byte !== 0x3a) throw new NotJson();
        this.#state = S.Value;
        return from;
      case S.AfterValue:
        if (!top) return this.#beginValue(byte, chunk, from, i); // another top-level value
        if (byte === 0x2c) {
          if (top.array) {
            top.index++;
            this.#state = S.Value;
          } else this.#state = S.Key;
          return from;
        }
        if ((byte === 0x5d && top.array) || (byte === 0x7d && !top.array)) return this.#close(from);
        throw new NotJson();
      default:
        throw new NotJson();
    }
  }

  #beginValue(byte: number, chunk: Buffer, from: number, i: number): number {
    this.#pathOfValue();
    const states = this.#valueStates;
    const masked = this.#valueMasked;
    if (byte === 0x7b || byte === 0x5b) {
      if (this.#stack.length >= MAX_DEPTH) throw new NotJson();
      this.#stack.push({ array: byte === 0x5b, index: 0, key: null, states, masked });
      this.#state = byte === 0x7b ? S.Key : S.Value;
      return from;
    }
    const isString = byte === QUOTE;
    if (!isString && !isLiteralStart(byte)) throw new NotJson();
    this.#state = isString ? S.String : S.Literal;
    this.#isKey = false;
    this.#escape = false;
    this.#rule = masked;
    const rule = masked === -1 ? undefined : this.#o.paths[masked];
    const hold = rule
      ? rule.needsValue || !isString
        ? Hold.Keep
        : Hold.Drop
      : isString && this.#o.content.length > 0
        ? Hold.Keep
        : Hold.None;
    if (hold === Hold.None) return from;
    if (i > from) this.#out.push(chunk.subarray(from, i));
    this.#hold = hold;
    this.#held = [];
    this.#heldBytes = 0;
    this.#tooLong = false;
    return i;
  }

  /** Sets #valueStates and #valueMasked for the value starting now (no allocation when no path can match). */
  #pathOfValue(): void {
    const top = this.#stack[this.#stack.length - 1];
    if (!top) {
      this.#valueStates = this.#root.states;
      this.#valueMasked = this.#root.matched;
    } else if (top.states.length === 0) {
      this.#valueStates = top.states;
      this.#valueMasked = top.masked;
    } else {
      const next = step(this.#matcher, top.states, top.array ? top.index : top.key);
      this.#valueStates = next.states;
      this.#valueMasked = top.masked !== -1 ? top.masked : next.matched;
    }
  }

  #close(from: number): number {
    this.#stack.pop();
    this.#afterValue();
    return from;
  }

  #afterValue(): void {
    this.#state = S.AfterValue;
    this.#hold = Hold.None;
    this.#held = [];
  }

  /** The index of the closing quote, or -1 when the chunk ends inside the string (kept as needed). */
  #scanString(chunk: Buffer, i: number): number {
    const start = i;
    let at = i;
    if (this.#escape) {
      this.#escape = false;
      at++;
    }
    // A quote ends the string unless an odd run of backslashes escapes it (linear: no rescans).
    let stop = -1;
    while (at < chunk.length) {
      const quote = chunk.indexOf(QUOTE, at);
      if (quote === -1) {
        this.#escape = backslashesBefore(chunk, chunk.length, at) % 2 === 1;
        break;
      }
      if (backslashesBefore(chunk, quote, at) % 2 === 0) {
        stop = quote;
        break;
      }
      at = quote + 1;
    }
    const upto = stop === -1 ? chunk.length : stop;
    if (this.#isKey) {
      if (this.#key) {
        this.#keyBytes += upto - start;
        if (this.#keyBytes > MAX_KEY) this.#key = null;
        else this.#key.push(chunk.subarray(start, upto));
      }
    } else if (this.#hold === Hold.Keep) {
      this.#heldBytes += upto - start;
      if (this.#heldBytes > this.#o.maxValue) this.#overflow();
    }
    return stop;
  }

  /** A held string grew past maxValue: a path rule masks it without reading it; content cannot. */
  #overflow(): void {
    if (this.#rule !== -1) {
      this.#tooLong = true;
      this.#hold = Hold.Drop;
      this.#held = [];
      return;
    }
    throw new NotJson(`a JSON string longer than ${this.#o.maxValue} bytes`);
  }

  #endKey(): void {
    const top = this.#stack[this.#stack.length - 1] as Frame;
    if (top.states.length === 0) return;
    const parts = this.#key;
    if (parts === null) {
      top.key = null;
      return;
    }
    const text = (parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)).toString("utf8");
    top.key = text.includes("\\") ? decodeString(Buffer.from(`"${text}"`, "utf8")) : text;
  }

  /** Emits the replacement of a held value that ends before `end`; returns the new emit start. */
  #endHeld(chunk: Buffer, from: number, end: number, isString: boolean): number {
    if (this.#hold === Hold.Keep) this.#keep(chunk.subarray(from, end));
    const rule = this.#rule === -1 ? undefined : this.#o.paths[this.#rule];
    const raw = this.#held.length === 1 ? (this.#held[0] as Buffer) : Buffer.concat(this.#held);
    let out: string | null;
    if (rule) {
      const literal = isString ? "" : raw.toString("latin1");
      if (literal !== "null") this.#count(rule);
      if (this.#tooLong) out = rule.oversized;
      else if (!isString) out = rule.replace(literal === "null" ? null : literal);
      else out = rule.replace(rule.needsValue ? decodeString(raw) : "");
    } else {
      // Content masking waits for the end of the chunk, where its strings are scanned together.
      this.#content.defer(this.#out.length, decodeString(raw));
      out = null;
    }
    this.#out.push(out === null ? raw : Buffer.from(out, "utf8"));
    this.#hold = Hold.None;
    this.#held = [];
    return end;
  }

  #keep(bytes: Buffer): void {
    if (bytes.length > 0) this.#held.push(bytes);
  }

  #maskContent(value: string): string {
    return this.#content.maskOne(value);
  }

  #count(rule: JsonPathRule): void {
    this.#content.add(rule.field, rule.rule, 1);
  }

  /** Emits what this chunk produced, as one buffer, once its strings are masked. */
  #flush(): void {
    this.#content.resolve(this.#out);
    const out = this.#out;
    if (out.length === 1) this.#o.emit(out[0] as Buffer);
    else if (out.length > 1) this.#o.emit(Buffer.concat(out));
    this.#out = [];
  }

  #fallBack(chunk: Buffer, from: number): void {
    this.#flush();
    this.fellBack = true;
    const pending = this.#hold === Hold.Keep ? this.#held : [];
    for (const bytes of pending) this.#o.raw(bytes);
    this.#held = [];
    this.#hold = Hold.None;
    if (from < chunk.length) this.#o.raw(chunk.subarray(from));
  }
}

function refusal(error: unknown): Error {
  if (!(error instanceof NotJson)) return error as Error;
  return new SluiceError("FORBIDDEN", `the response cannot be masked as policy requires: ${error.message}`);
}
