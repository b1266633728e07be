import type { CompiledProfile } from "../../gate/masking/profile.ts";
import type { MaskStrategy } from "../../gate/masking/types.ts";
import type { PgCatalog } from "./catalog.ts";
import type { FieldDescription } from "./codec/backend.ts";
import { type CopyShape, copyShape } from "./copy-masking.ts";
import { lineageOfStatements, maskPlanFor, type StatementLineage } from "./lineage/index.ts";
import { sideChannelRefusal } from "./notification-masking.ts";
import { type ColumnPlan, isScannable } from "./row-masking.ts";

/** What is known about a statement text before it runs. */
export interface StatementInfo {
  /** Per statement of the text: the lineage of each output column (null: returns no rows). */
  lineage: StatementLineage[];
  /** Set for a COPY statement. */
  copy?: CopyShape;
}

export interface ResultPlanner {
  /** Before the statement runs; `deny` when the profile refuses what lineage cannot vouch for. */
  prepare(text: string, profile: CompiledProfile): Promise<StatementInfo | { deny: string }>;
  /** At the result's RowDescription (or COPY start); async only when column origins are not cached. */
  columns(
    fields: FieldDescription[],
    info: StatementInfo | null,
    statement: number,
    profile: CompiledProfile,
  ): ColumnPlan[] | Promise<ColumnPlan[]>;
  /** DDL ran through the gateway: cached catalog facts may be stale. */
  invalidate(): void;
}

type Rule = { strategy: MaskStrategy; rule: string };

/**
 * How each result column is masked: by ORIGIN (RowDescription table OID + attnum through the
 * catalog), by LINEAGE (the parse tree: output derived from a masked column is masked — see
 * lineage/), by redaction when a statement touching masked columns has a column of unknown
 * lineage (or refusal, per profile), and by content detectors on every column that can carry
 * text, as the second layer.
 */
export class CatalogResultPlanner implements ResultPlanner {
  constructor(private readonly catalog: PgCatalog) {}

  async prepare(text: string, profile: CompiledProfile): Promise<StatementInfo | { deny: string }> {
    const copy = /copy/i.test(text) ? copyShape(text) : undefined;
    if (copy?.direction === "to" && (copy.format === "binary" || copy.custom))
      return {
        deny: `Sluice masks COPY output only in text and CSV formats with default delimiters (masking profile ${profile.name} applies)`,
      };
    const lookup = await this.catalog.lookupFor(text);
    const sideChannel = sideChannelRefusal(text, lookup, profile);
    if (sideChannel)
      return { deny: `masking profile ${profile.name} refuses this statement: ${sideChannel}` };
    const lineage = lineageOfStatements(text, lookup);
    const rules = rulesOf(profile);
    for (const statement of lineage) {
      if (!statement) continue;
      const plan = maskPlanFor(statement, rules, profile.unknownLineage, { opaqueRule: opaqueRule(profile) });
      if (plan.action === "deny")
        return { deny: `masking profile ${profile.name} refuses this statement: ${plan.reason}` };
    }
    return copy ? { lineage, copy } : { lineage };
  }

  columns(
    fields: FieldDescription[],
    info: StatementInfo | null,
    statement: number,
    profile: CompiledProfile,
  ): ColumnPlan[] | Promise<ColumnPlan[]> {
    const refs = fields.map((f) => ({ tableOid: f.tableOid, attnum: f.columnAttr }));
    const known = refs.every(
      (r) => r.tableOid === 0 || this.catalog.columnOf(r.tableOid, r.attnum) !== undefined,
    );
    if (known) {
      const origins = refs.map((r) =>
        r.tableOid === 0 ? undefined : this.catalog.columnOf(r.tableOid, r.attnum),
      );
      return plan(fields, origins, info, statement, profile);
    }
    return this.catalog
      .resolveOrigins(refs)
      .then((origins) => plan(fields, origins, info, statement, profile));
  }

  invalidate(): void {
    this.catalog.invalidate();
  }
}

function plan(
  fields: FieldDescription[],
  origins: (string | undefined)[],
  info: StatementInfo | null,
  statement: number,
  profile: CompiledProfile,
): ColumnPlan[] {
  // Rows have started: a refusal is no longer possible, so unknown lineage is masked here.
  const result = maskPlanFor(info?.lineage[statement] ?? null, rulesOf(profile), "mask", {
    origins,
    opaqueRule: opaqueRule(profile),
  });
  const masks = result.action === "mask" ? result.columns : [];
  const scanning = profile.contentRules.length > 0;
  return fields.map((field, i) => {
    const mask = masks[i];
    return {
      name: field.name,
      typeOid: field.typeOid,
      binary: field.format === 1,
      strategy: mask?.rule.strategy ?? null,
      rule: mask ? mask.rule.rule : null,
      scan: scanning && isScannable(field.typeOid),
    };
  });
}

const rulesCache = new WeakMap<CompiledProfile, (column: string) => Rule | null>();

function rulesOf(profile: CompiledProfile): (column: string) => Rule | null {
  let rules = rulesCache.get(profile);
  if (!rules) {
    rules = (column) => profile.columnStrategy(column);
    rulesCache.set(profile, rules);
  }
  return rules;
}

/** Output of opaque functions may carry any table's data: masked when the profile masks any column. */
function opaqueRule(profile: CompiledProfile): Rule | undefined {
  return profile.hasColumnRules
    ? { strategy: { kind: "redact" }, rule: `${profile.name}/opaque` }
    : undefined;
}
