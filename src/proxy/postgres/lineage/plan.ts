/**
 * From lineage to a masking decision per result column. A column is masked when its origin
 * (RowDescription table OID + attnum, resolved by the catalog) or any of its lineage sources
 * matches a masked column rule. A column of unknown lineage is masked (or the statement
 * denied, by policy) when the statement reaches a masked column, or calls something opaque
 * and the caller says what opaque output should get.
 */
import type { ColumnLineage } from "./index.ts";

export interface ColumnMask<R> {
  rule: R;
  /** The column whose rule applies ("schema.table.column"), or why an unknown column is masked. */
  column: string;
  by: "origin" | "lineage" | "unknown-lineage" | "opaque";
}

export type MaskPlan<R> =
  | { action: "deny"; reason: string; column: number }
  /** One entry per result column (null: leave it alone); `masked` counts the non-null ones. */
  | { action: "mask"; columns: Array<ColumnMask<R> | null>; masked: number };

export interface MaskPlanOptions<R> {
  /**
   * Origins of the result columns from RowDescription ("schema.table.column", or undefined
   * where tableOid is 0). Their count is the number of result columns: lineage is aligned to it.
   */
  origins?: ReadonlyArray<string | null | undefined>;
  /**
   * The rule for output of opaque functions, cursors and prepared statements (which may read
   * any table). Pass one when the profile masks any column (e.g. its first column rule); without
   * it such a column is masked only when the statement itself reaches a masked column.
   */
  opaqueRule?: R;
}

/**
 * The plan for one result. Call it before running a statement (no origins) to learn early
 * whether policy denies it, and again at RowDescription with origins.
 */
export function maskPlanFor<R>(
  lineage: readonly ColumnLineage[] | null,
  columnRules: (column: string) => R | null | undefined,
  unknownLineage: "mask" | "deny",
  options: MaskPlanOptions<R> = {},
): MaskPlan<R> {
  const { origins, opaqueRule } = options;
  const count = origins ? origins.length : (lineage?.length ?? 0);
  const aligned = lineage ? alignLineage(lineage, count) : Array<ColumnLineage>(count).fill(NO_LINEAGE);
  const columns: Array<ColumnMask<R> | null> = [];
  let masked = 0;
  // Rules of columns the statement reaches, looked up once per plan.
  let reachRule: { rule: R; column: string } | null | undefined;
  for (let i = 0; i < count; i++) {
    const lin = aligned[i] as ColumnLineage;
    let mask: ColumnMask<R> | null = null;
    const origin = origins?.[i];
    const byOrigin = origin ? columnRules(origin) : undefined;
    if (byOrigin && origin) mask = { rule: byOrigin, column: origin, by: "origin" };
    if (!mask && lin.kind !== "constant") {
      for (const source of lin.sources) {
        const rule = columnRules(source);
        if (rule) {
          mask = { rule, column: source, by: "lineage" };
          break;
        }
      }
    }
    if (!mask && lin.kind === "unknown") {
      if (reachRule === undefined) reachRule = firstRule(lin.reach, columnRules);
      const found =
        reachRule ?? (lin.opaque && opaqueRule !== undefined ? { rule: opaqueRule, column: "" } : null);
      if (found) {
        const by = reachRule ? "unknown-lineage" : "opaque";
        if (unknownLineage === "deny") {
          const what = reachRule
            ? `the statement reads masked column ${found.column}`
            : "it may read any table";
          return {
            action: "deny",
            reason: `result column ${i + 1} has unknown lineage (${lin.reason}) and ${what}`,
            column: i,
          };
        }
        mask = { rule: found.rule, column: found.column || lin.reason, by };
      }
    }
    if (mask) masked++;
    columns.push(mask);
  }
  return { action: "mask", columns, masked };
}

function firstRule<R>(
  reach: readonly string[],
  columnRules: (column: string) => R | null | undefined,
): { rule: R; column: string } | null {
  for (const column of reach) {
    const rule = columnRules(column);
    if (rule) return { rule, column };
  }
  return null;
}

/** Rows arrived where lineage said none would: nothing is known about them. */
const NO_LINEAGE: ColumnLineage = Object.freeze({
  kind: "unknown",
  reason: "the statement was not expected to return rows",
  sources: [],
  reach: [],
  opaque: true,
});

/**
 * Lineage of exactly `count` columns. A spread entry (columns of unknown count) covers the
 * columns between the entries before and after it; two spreads, or a count that cannot fit,
 * make every column the union of all entries.
 */
export function alignLineage(lineage: readonly ColumnLineage[], count: number): ColumnLineage[] {
  const spreads = lineage.filter((l) => l.spread).length;
  if (spreads === 0 && lineage.length === count) return lineage as ColumnLineage[];
  const fixed = lineage.length - spreads;
  if (spreads === 1 && fixed <= count) {
    const at = lineage.findIndex((l) => l.spread);
    const out: ColumnLineage[] = lineage.slice(0, at) as ColumnLineage[];
    for (let i = 0; i < count - fixed; i++) out.push(lineage[at] as ColumnLineage);
    out.push(...lineage.slice(at + 1));
    return out;
  }
  if (spreads === 0) {
    // Lineage and result disagree on the number of columns: nothing can be said per column.
    const merged = mergeLineage(lineage);
    const sources = merged.kind === "constant" ? [] : merged.sources;
    const reach = merged.kind === "unknown" ? [...new Set([...merged.reach, ...sources])] : sources;
    const reason = `lineage has ${lineage.length} columns, the result ${count}`;
    return Array<ColumnLineage>(count).fill({ kind: "unknown", reason, sources, reach, opaque: true });
  }
  return Array<ColumnLineage>(count).fill(mergeLineage(lineage));
}

function mergeLineage(lineage: readonly ColumnLineage[]): ColumnLineage {
  const sources = new Set<string>();
  let unknown: Extract<ColumnLineage, { kind: "unknown" }> | undefined;
  for (const l of lineage) {
    if (l.kind !== "constant") for (const s of l.sources) sources.add(s);
    if (l.kind === "unknown") unknown ??= l;
  }
  if (unknown)
    return {
      kind: "unknown",
      reason: unknown.reason,
      sources: [...sources],
      reach: unknown.reach,
      opaque: unknown.opaque,
    };
  return sources.size > 0 ? { kind: "columns", sources: [...sources], direct: false } : { kind: "constant" };
}
