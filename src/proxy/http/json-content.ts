import { type ContentRule, maskText } from "../../gate/masking/index.ts";

/** What was masked, by field (a JSON path rule's path, or "body" for detectors) and rule. */
export type Counts = Map<string, { field: string; rule: string; count: number }>;

const SEPARATOR = "\n\u0000\n";

/**
 * Content detectors over the string values of one chunk of a JSON body. Strings are deferred
 * while the chunk is read and then scanned in one pass, joined by a separator no match may
 * cross: a pass per string costs microseconds, and most find nothing. If a match swallowed a
 * separator (the pieces no longer line up), each string is masked on its own.
 */
export class ContentBatch {
  readonly counts: Counts = new Map();
  #slots: { index: number; value: string }[] = [];

  constructor(private readonly rules: readonly ContentRule[]) {}

  /** A decoded string whose JSON token sits at `out[index]`, masked at resolve(). */
  defer(index: number, value: string): void {
    this.#slots.push({ index, value });
  }

  /** Replaces, in `out`, the tokens of deferred strings that masking changed. */
  resolve(out: Buffer[]): void {
    const slots = this.#slots;
    if (slots.length === 0) return;
    this.#slots = [];
    const values = slots.map((slot) => slot.value);
    let masked: string[];
    if (values.length === 1) masked = [this.maskOne(values[0] as string)];
    else {
      const joined = maskText(values.join(SEPARATOR), this.rules);
      if (joined.findings.length === 0) return;
      const parts = joined.text.split(SEPARATOR);
      if (parts.length === values.length) {
        masked = parts;
        for (const finding of joined.findings) this.add("body", finding.rule, finding.count);
      } else masked = values.map((value) => this.maskOne(value));
    }
    slots.forEach((slot, i) => {
      const value = masked[i] as string;
      if (value !== slot.value) out[slot.index] = Buffer.from(JSON.stringify(value), "utf8");
    });
  }

  maskOne(value: string): string {
    const { text, findings } = maskText(value, this.rules);
    for (const finding of findings) this.add("body", finding.rule, finding.count);
    return text;
  }

  add(field: string, rule: string, count: number): void {
    const key = `${field}\u0000${rule}`;
    const entry = this.counts.get(key);
    if (entry) entry.count += count;
    else this.counts.set(key, { field, rule, count });
  }
}
