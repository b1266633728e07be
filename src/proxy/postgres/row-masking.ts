import { type ContentRule, type MaskStrategy, maskText, maskValue } from "../../gate/masking/index.ts";
import { decodeDataRow, encodeDataRow } from "./codec/backend.ts";

/** How one result column is masked: by its origin/lineage (`strategy`), by content detectors (`scan`), or not at all. */
export interface ColumnPlan {
  name: string;
  typeOid: number;
  binary: boolean;
  strategy: MaskStrategy | null;
  /** The rule recorded for a strategy hit (`profile/schema.table.column`). */
  rule: string | null;
  scan: boolean;
}

/** Counts what masking changed, per output column and rule; never the values. */
export type Tally = (field: string, rule: string, count: number) => void;

// Types whose text form a masking marker can stand in for; other types get NULL so drivers still parse rows.
const TEXTUAL = new Set([25, 1043, 1042, 19, 18, 114, 3802, 142, 705, 0]);
// Types that cannot carry a secret or personal datum worth scanning for.
const OPAQUE = new Set([16, 21, 23, 26, 700, 701, 1082, 1083, 1114, 1184, 1186, 2950, 1266]);
const JSONB = 3802;
const JSON_TYPES = new Set([114, JSONB]);

export function isTextual(typeOid: number): boolean {
  return TEXTUAL.has(typeOid);
}

export function isScannable(typeOid: number): boolean {
  return !OPAQUE.has(typeOid);
}

/**
 * Rewrites DataRows by a column plan. A row nothing in the plan changes goes out as the same
 * bytes; only rows with a masked value are re-encoded.
 */
export class RowMasker {
  readonly active: boolean;

  constructor(
    readonly columns: ColumnPlan[],
    private readonly contentRules: readonly ContentRule[],
    private readonly tally: Tally,
  ) {
    this.active = columns.some((c) => c.strategy !== null || c.scan);
  }

  row(raw: Buffer): Buffer {
    if (!this.active) return raw;
    const values = decodeDataRow(raw) as (Buffer | string | null)[];
    let changed = false;
    const columns = this.columns;
    for (let i = 0; i < columns.length && i < values.length; i++) {
      const value = values[i] as Buffer | null;
      if (value === null) continue;
      const masked = this.value(columns[i] as ColumnPlan, value);
      if (masked !== value) {
        values[i] = masked;
        changed = true;
      }
    }
    return changed ? encodeDataRow(values) : raw;
  }

  /** One value in wire form; returns the same Buffer when nothing changed. */
  value(plan: ColumnPlan, value: Buffer): Buffer | string | null {
    if (plan.strategy) {
      this.tally(plan.name, plan.rule as string, 1);
      if (!isTextual(plan.typeOid)) return null;
      const masked = maskValue(value.toString("utf8"), plan.strategy);
      if (masked === null || !JSON_TYPES.has(plan.typeOid)) return masked;
      // json/jsonb must stay parseable: the marker becomes a JSON string (jsonb binary: version byte 1 first).
      const json = JSON.stringify(masked);
      return plan.binary && plan.typeOid === JSONB ? Buffer.concat([Buffer.of(1), Buffer.from(json)]) : json;
    }
    if (!plan.scan || (plan.binary && !isTextual(plan.typeOid))) return value;
    const prefix = plan.binary && plan.typeOid === JSONB ? 1 : 0;
    const text = value.toString("utf8", prefix);
    const { text: out, findings } = maskText(text, this.contentRules);
    if (findings.length === 0) return value;
    for (const finding of findings) this.tally(plan.name, finding.rule, finding.count);
    return prefix ? Buffer.concat([value.subarray(0, 1), Buffer.from(out, "utf8")]) : out;
  }
}
