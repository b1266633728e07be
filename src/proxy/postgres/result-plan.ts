import type { SqlClassification } from "../../gate/classify/sql.ts";
import type { CompiledProfile } from "../../gate/masking/profile.ts";
import type { MaskStrategy } from "../../gate/masking/types.ts";
import type { PgCatalog } from "./catalog.ts";
import { UNKNOWN_SEARCH_PATH } from "./catalog-search-path.ts";
import type { FieldDescription } from "./codec/backend.ts";
import { type CopyShape, copyShape } from "./copy-masking.ts";
import {
  type CatalogLookup,
  lineageOfStatements,
  maskPlanFor,
  namesNeeded,
  type StatementLineage,
} from "./lineage/index.ts";
import { sideChannelRefusal } from "./notification-masking.ts";
import { type ColumnPlan, isScannable } from "./row-masking.ts";

/** What is known about a statement text before it runs. */
export interface StatementInfo {
  /** Per statement of the text: the lineage of each output column (null: returns no rows). */
  lineage: StatementLineage[];
  /** Set for a COPY statement. */
  copy?: CopyShape;
  /** It calls a function that is not a built-in (views' included): it may change the search_path. */
  callsUserCode?: boolean;
}

/** How a statement's names resolve, from the session. */
export interface NameContext {
  /** The session's search_path (UNKNOWN_SEARCH_PATH: not known, nothing unqualified resolves). */
  searchPath: string;
  /** The text's classification. */
  sql: SqlClassification;
  /** It calls functions the parser cannot tell are built-ins: the catalog says (StatementInfo.callsUserCode). */
  checkCalls: boolean;
}

export interface ResultPlanner {
  /**
   * Before the statement runs; `deny` when the profile refuses what lineage cannot vouch for.
   * Without `names`, unqualified names resolve along the default search_path.
   */
  prepare(
    text: string,
    profile: CompiledProfile,
    names?: NameContext,
  ): Promise<StatementInfo | { deny: string }>;
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

  async prepare(
    text: string,
    profile: CompiledProfile,
    names?: NameContext,
  ): Promise<StatementInfo | { deny: string }> {
    const copy = /copy/i.test(text) ? copyShape(text) : undefined;
    if (copy?.direction === "to" && (copy.format === "binary" || copy.custom))
      return {
        deny: `Sluice masks COPY output only in text and CSV formats with default delimiters (masking profile ${profile.name} applies)`,
      };
    let searchPath = names?.searchPath;
    let lookup = await this.catalog.lookupFor(text, searchPath);
    const userCode =
      names !== undefined &&
      (names.checkCalls || readsView(names.sql, lookup)) &&
      callsUserCode(text, lookup);
    if (userCode && searchPath !== UNKNOWN_SEARCH_PATH && names.sql.statements.length > 1) {
      // The function may change the path for the text's later statements: they resolve nothing.
      searchPath = UNKNOWN_SEARCH_PATH;
      lookup = await this.catalog.lookupFor(text, searchPath);
    }
    const sideChannel =
      sideChannelRefusal(text, lookup, profile) ??
      (searchPath === UNKNOWN_SEARCH_PATH ? unresolvedSideChannel(text, lookup, profile) : null);
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
    const info: StatementInfo = copy ? { lineage, copy } : { lineage };
    if (userCode) info.callsUserCode = true;
    return info;
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

/** Whether the statement reads a view (whose definition may call functions the text does not name). */
function readsView(sql: SqlClassification, lookup: CatalogLookup): boolean {
  for (const s of sql.statements)
    for (const name of s.reads) {
      const dot = name.lastIndexOf(".");
      const schema = dot < 0 ? null : name.slice(name.lastIndexOf(".", dot - 1) + 1, dot);
      if (lookup.relation(schema, dot < 0 ? name : name.slice(dot + 1))?.kind === "view") return true;
    }
  return false;
}

/** Whether any function the text calls (views' definitions included) is not a built-in, or is not known. */
function callsUserCode(text: string, lookup: CatalogLookup): boolean {
  for (const f of namesNeeded(text, lookup).functions)
    if (lookup.functionKind?.(f.schema, f.name) !== "builtin") return true;
  return false;
}

/**
 * With the session's search_path unknown, no unqualified relation resolves, so the side-channel
 * check cannot see which columns pg_notify or set_config could reach: refused while so.
 */
function unresolvedSideChannel(text: string, lookup: CatalogLookup, profile: CompiledProfile): string | null {
  if (!profile.hasColumnRules || !/notify|set_config/i.test(text)) return null;
  const unresolved = namesNeeded(text, lookup).relations.find(
    (n) => n.schema === null && !lookup.relation(null, n.name),
  );
  return unresolved
    ? `it may carry columns of ${unresolved.name} out of band, and which relation that names is not known until Sluice has re-read the session's search_path (run a search_path change as a statement of its own)`
    : null;
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
