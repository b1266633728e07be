import { parseSql } from "../../gate/classify/sql-parse.ts";
import { constantValue, type Fields, unwrap } from "../../gate/classify/sql-tree.ts";
import { type ContentRule, maskText, maskValue } from "../../gate/masking/index.ts";
import type { ColumnPlan, Tally } from "./row-masking.ts";

export interface CopyShape {
  direction: "to" | "from";
  format: "text" | "csv" | "binary";
  /** Non-default DELIMITER, QUOTE, ESCAPE or NULL: output Sluice does not re-encode. */
  custom: boolean;
}

/** The shape of a COPY statement (undefined for other statements), read from the parse tree. */
export function copyShape(text: string): CopyShape | undefined {
  let tree: { stmts?: { stmt?: unknown }[] };
  try {
    tree = parseSql(text);
  } catch {
    return undefined;
  }
  const node = unwrap(tree.stmts?.[0]?.stmt);
  if (node?.[0] !== "CopyStmt") return undefined;
  const copy = node[1];
  let format: CopyShape["format"] = "text";
  let custom = false;
  for (const option of (copy.options as unknown[]) ?? []) {
    const elem = unwrap(option)?.[1] as Fields | undefined;
    const name = elem?.defname;
    if (name === "format") format = String(constantValue(elem?.arg)) as CopyShape["format"];
    else if (name === "delimiter" || name === "quote" || name === "escape" || name === "null") custom = true;
    else if (name === "csv") format = "csv";
    else if (name === "binary") format = "binary";
  }
  return { direction: copy.is_from ? "from" : "to", format, custom };
}

/**
 * Masks COPY TO STDOUT rows in text or CSV format (the server sends one row per CopyData):
 * fields are split, masked by the column plan and content detectors, and re-encoded.
 */
export class CopyTextMasker {
  constructor(
    private readonly columns: ColumnPlan[],
    private readonly rules: readonly ContentRule[],
    private readonly tally: Tally,
    private readonly csv = false,
  ) {}

  /** Returns the same Buffer when nothing changed. */
  chunk(data: Buffer): Buffer {
    const text = data.toString("utf8");
    const rows = this.csv ? splitCsvRows(text) : text.split("\n");
    let changed = false;
    const out = rows.map((row) => {
      if (row === "") return row;
      const fields = this.csv ? splitCsv(row) : row.split("\t");
      for (let i = 0; i < fields.length; i++) {
        const plan = this.columns[i];
        if (!plan || (!plan.strategy && !plan.scan)) continue;
        const field = fields[i] as string;
        const value = this.csv ? csvValue(field) : textValue(field);
        if (value === null) continue;
        let masked: string | null = value;
        if (plan.strategy) {
          masked = maskValue(value, plan.strategy);
          this.tally(plan.name, plan.rule as string, 1);
        } else {
          const result = maskText(value, this.rules);
          for (const finding of result.findings) this.tally(plan.name, finding.rule, finding.count);
          masked = result.text;
        }
        if (masked === value) continue;
        fields[i] = this.csv ? csvField(masked) : textField(masked);
        changed = true;
      }
      return fields.join(this.csv ? "," : "\t");
    });
    return changed ? Buffer.from(out.join("\n"), "utf8") : data;
  }
}

function textValue(field: string): string | null {
  if (field === "\\N") return null;
  return field.replace(
    /\\(.)/g,
    (_, c: string) => ({ t: "\t", n: "\n", r: "\r", b: "\b", f: "\f", v: "\v" })[c] ?? c,
  );
}

function textField(value: string | null): string {
  if (value === null) return "\\N";
  return value.replace(
    /[\\\t\n\r]/g,
    (c) => ({ "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" })[c] as string,
  );
}

function csvValue(field: string): string | null {
  if (field === "") return null;
  if (field.startsWith('"')) return field.slice(1, -1).replaceAll('""', '"');
  return field;
}

function csvField(value: string | null): string {
  if (value === null) return "";
  return /[",\n\r]/.test(value) || value === "" ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Splits CSV text into fields, keeping quoted fields (with their quotes) intact. */
function splitCsv(row: string): string[] {
  const fields: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < row.length; i++) {
    const c = row[i];
    if (c === '"') quoted = !quoted;
    else if (c === "," && !quoted) {
      fields.push(row.slice(start, i));
      start = i + 1;
    }
  }
  fields.push(row.slice(start));
  return fields;
}

/** Splits CSV text into rows at newlines outside quotes. */
function splitCsvRows(text: string): string[] {
  const rows: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === "\n" && !quoted) {
      rows.push(text.slice(start, i));
      start = i + 1;
    }
  }
  rows.push(text.slice(start));
  return rows;
}
