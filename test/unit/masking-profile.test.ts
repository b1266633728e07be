import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parsePolicyFiles } from "../../src/domain/policy/parse.ts";
import { maskText, maskValue } from "../../src/gate/masking/index.ts";
import { compileProfile } from "../../src/gate/masking/profile.ts";

const { document } = parsePolicyFiles([
  {
    file: "examples/policy.yaml",
    text: readFileSync(new URL("../../examples/policy.yaml", import.meta.url), "utf8"),
  },
]);
const pii = compileProfile(document.masking[0] as (typeof document.masking)[number], "deployment-salt");

describe("masking profiles from policy", () => {
  it("finds the strategy of a column by schema.table.column globs, first pattern first", () => {
    expect(pii.columnStrategy("public.customers.email")).toEqual({
      strategy: { kind: "partial" },
      rule: "pii/public.customers.email",
    });
    expect(pii.columnStrategy("billing.payments.card_number")?.strategy).toEqual({
      kind: "hash",
      salt: "deployment-salt",
    });
    expect(pii.columnStrategy("public.users.password_hash")?.rule).toBe("pii/*.*.password*");
    expect(pii.columnStrategy("public.customers.name")).toBeNull();
    expect(
      maskValue("s3cret", pii.columnStrategy("a.b.password")?.strategy ?? { kind: "redact" }),
    ).toBeNull();
  });

  it("turns detectors into content rules named after the profile", () => {
    const { text, findings } = maskText("mail ada@example.com, key AKIAIOSFODNN7EXAMPLE", pii.contentRules);
    expect(text).not.toContain("ada@example.com");
    expect(text).not.toContain("AKIAIOSFODNN7EXAMPLE");
    expect(findings.map((f) => f.rule).sort()).toEqual(["pii/aws_access_key_id", "pii/email"]);
  });

  it("refuses a detector the engine does not have, naming the place", () => {
    const text = "masking:\n  - name: p\n    detectors:\n      - { detector: passport, strategy: redact }\n";
    expect(() => parsePolicyFiles([{ file: "m.yaml", text }])).toThrow(
      /m\.yaml:4:21 masking\.0\.detectors\.0\.detector/,
    );
  });
});
