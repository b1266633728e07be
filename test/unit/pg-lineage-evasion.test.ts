import { beforeAll, describe, expect, it } from "vitest";
import { initLineage, lineageOf, maskPlanFor } from "../../src/proxy/postgres/lineage/index.ts";
import { corpusProfile, EVASION_CORPUS, staticCatalog } from "./pg-evasion-corpus.ts";

const profile = corpusProfile();
const rules = (column: string) => profile.columnStrategy(column);
const opaqueRule = profile.columnStrategy("public.users.ssn") ?? undefined;
const catalog = staticCatalog();

beforeAll(() => initLineage());

describe("masking evasion corpus (lineage against a static catalog)", () => {
  it("has at least 50 queries", () => {
    expect(EVASION_CORPUS.length).toBeGreaterThanOrEqual(50);
  });

  it.each(EVASION_CORPUS.map((c) => [c.sql, c] as const))("%s", (_sql, c) => {
    const lineage = lineageOf(c.sql, catalog);
    expect(lineage).not.toBeNull();
    const plan = maskPlanFor(lineage, rules, "mask", { opaqueRule });
    if (plan.action !== "mask") throw new Error(`unexpected plan ${JSON.stringify(plan)}`);
    const masked = plan.columns.flatMap((m, i) => (m ? [i] : []));
    for (const i of c.masked) expect(masked, `column ${i} must be masked`).toContain(i);
    for (const i of c.clean ?? []) expect(masked, `column ${i} must stay clean`).not.toContain(i);
  });
});
