import type { MaskingProfile } from "../../domain/policy/document.ts";
import { globMatch } from "../../domain/policy/match.ts";
import type { ContentRule, MaskStrategy } from "./types.ts";

/**
 * A policy masking profile in the engine's terms: content rules for running text, and the
 * strategy for a column found by origin or lineage (`schema.table.column`, globs per part).
 * Rules are named `<profile>/<detector>` and `<profile>/<column pattern>` in what is recorded.
 */

export interface CompiledProfile {
  name: string;
  contentRules: ContentRule[];
  /** The strategy for a column, or null when the profile leaves it alone. First pattern wins. */
  columnStrategy(column: string): { strategy: MaskStrategy; rule: string } | null;
  unknownLineage: MaskingProfile["unknownLineage"];
  /** Whether any column rule exists (output of opaque functions is then masked too). */
  hasColumnRules: boolean;
}

export function compileProfile(profile: MaskingProfile, salt: string): CompiledProfile {
  const strategy = (kind: MaskingProfile["columns"][number]["strategy"]): MaskStrategy =>
    kind === "hash" ? { kind, salt } : { kind };
  const contentRules = profile.detectors.map((d) => ({
    detector: d.detector,
    strategy: strategy(d.strategy),
    rule: `${profile.name}/${d.detector}`,
  }));
  const columns = profile.columns.map((c) => ({
    parts: c.column.split("."),
    strategy: strategy(c.strategy),
    rule: `${profile.name}/${c.column}`,
  }));
  const cache = new Map<string, { strategy: MaskStrategy; rule: string } | null>();
  return {
    name: profile.name,
    contentRules,
    unknownLineage: profile.unknownLineage,
    hasColumnRules: profile.columns.length > 0,
    columnStrategy(column) {
      const cached = cache.get(column);
      if (cached !== undefined) return cached;
      const parts = column.split(".");
      const found =
        columns.find((c) => c.parts.every((pattern, i) => globMatch([pattern], parts[i] ?? ""))) ?? null;
      const result = found ? { strategy: found.strategy, rule: found.rule } : null;
      cache.set(column, result);
      return result;
    },
  };
}
