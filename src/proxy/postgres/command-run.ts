import type { EventInput } from "../../events/index.ts";

type Outcome = Omit<EventInput<"CommandCompleted">, "sessionId" | "commandId">;

/**
 * One statement run through the proxy, from its decision to CommandCompleted: rows, tag,
 * error, what masking changed (column, rule, count) and the masked rows kept for replay,
 * up to a byte budget with counts of what was cut.
 */
export class CommandRun {
  readonly startedAt = performance.now();
  rows = 0;
  tag: string | undefined;
  error: { code: string; message: string } | undefined;
  status: Outcome["status"] = "ok";
  private readonly masked = new Map<string, { field: string; rule: string; count: number }>();
  private output = "";
  private cutBytes = 0;
  private cutRows = 0;

  constructor(
    readonly commandId: string,
    private readonly outputBudget: number,
  ) {}

  readonly tally = (field: string, rule: string, count: number): void => {
    const key = `${field}\u0000${rule}`;
    const entry = this.masked.get(key);
    if (entry) entry.count += count;
    else this.masked.set(key, { field, rule, count });
  };

  /** True while masked output still fits the budget (callers skip decoding rows past it). */
  get capturing(): boolean {
    return this.output.length < this.outputBudget && this.cutRows === 0;
  }

  /** A header or row line of the masked output; past the budget it is only counted. */
  capture(line: string, isRow: boolean, wireBytes = line.length): void {
    if (this.output.length + line.length + 1 <= this.outputBudget && this.cutRows === 0) {
      this.output += `${line}\n`;
      return;
    }
    this.cutBytes += wireBytes;
    if (isRow) this.cutRows++;
  }

  /** Counts a row that was not captured (past the budget). */
  cut(wireBytes: number): void {
    this.cutBytes += wireBytes;
    this.cutRows++;
  }

  outcome(): Outcome {
    return {
      status: this.status,
      durationMs: Math.round((performance.now() - this.startedAt) * 1000) / 1000,
      rows: this.rows,
      ...(this.tag ? { tag: this.tag } : {}),
      ...(this.error ? { error: this.error } : {}),
      masked: [...this.masked.values()],
      ...(this.output ? { output: this.output } : {}),
      ...(this.cutRows || this.cutBytes ? { truncated: { bytes: this.cutBytes, rows: this.cutRows } } : {}),
    };
  }
}

/** `SELECT 3` → 3, `INSERT 0 5` → 5; tags without a count → undefined. */
export function rowsOfTag(tag: string): number | undefined {
  const last = tag.lastIndexOf(" ");
  if (last < 0) return undefined;
  const n = Number(tag.slice(last + 1));
  return Number.isInteger(n) ? n : undefined;
}

/** A row as one recorded line: tab-separated, `\N` for NULL, binary values as hex. */
export function rowLine(values: readonly (Buffer | string | null)[], binary: readonly boolean[]): string {
  let line = "";
  for (let i = 0; i < values.length; i++) {
    if (i > 0) line += "\t";
    const value = values[i];
    if (value === null || value === undefined) line += "\\N";
    else if (typeof value === "string") line += escapeField(value);
    else line += binary[i] ? `\\x${value.toString("hex")}` : escapeField(value.toString("utf8"));
  }
  return line;
}

function escapeField(text: string): string {
  return /[\t\n\\]/.test(text)
    ? text.replace(/[\t\n\\]/g, (c) => (c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\\\"))
    : text;
}
