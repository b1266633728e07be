import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ibanValid, luhnValid } from "../../src/gate/masking/checksums.ts";
import {
  type ContentRule,
  DETECTOR_NAMES,
  type DetectorName,
  type MaskStrategy,
  maskText,
  maskValue,
} from "../../src/gate/masking/index.ts";
import { AWS_SECRET, GITHUB_TOKEN, JWT, NEGATIVES, POSITIVES, pem } from "./masking-fixtures.ts";

const redact: MaskStrategy = { kind: "redact" };
const rule = (detector: DetectorName, strategy: MaskStrategy = redact): ContentRule => ({
  detector,
  strategy,
  rule: `mask-${detector}`,
});
const ALL = DETECTOR_NAMES.map((d) => rule(d));

describe("detectors", () => {
  it("has positive and negative examples for every detector", () => {
    for (const name of DETECTOR_NAMES) {
      expect(
        POSITIVES.some(([d]) => d === name),
        name,
      ).toBe(true);
      expect(
        NEGATIVES.some(([d]) => d === name),
        name,
      ).toBe(true);
    }
  });

  it.each(POSITIVES)("%s masks %j", (detector, text, region) => {
    const { text: masked, findings } = maskText(text, [rule(detector)]);
    expect(masked).toBe(text.replace(region, `«redacted:${detector}»`));
    expect(findings).toEqual([{ detector, rule: `mask-${detector}`, count: 1 }]);
  });

  it.each(NEGATIVES)("%s leaves %j alone", (detector, text) => {
    expect(maskText(text, [rule(detector)])).toEqual({ text, findings: [] });
  });

  it("masks every secret of a mixed text with all detectors and none of its prose", () => {
    const text = POSITIVES.map(([, t]) => t).join("\n");
    const { text: masked, findings } = maskText(text, ALL);
    for (const [, , region] of POSITIVES) expect(masked).not.toContain(region);
    for (const word of ["contact", "today", "Authorization:", "DATABASE_URL=postgres://admin:", "exp 12/29"])
      expect(masked).toContain(word);
    expect(findings.map((f) => f.detector).sort()).toEqual([...DETECTOR_NAMES].sort());
  });

  it("masks only the password of a connection URL, not the user or host", () => {
    const { text } = maskText("postgres://admin:pw@db.example.com:5432/app", ALL);
    expect(text).toBe("postgres://admin:«redacted:url_password»@db.example.com:5432/app");
  });

  it("masks an unterminated PEM block from its BEGIN for maxSecretLength bytes", () => {
    const body = "QUJDRA==\n".repeat(1000);
    const text = `before\n-----BEGIN RSA PRIVATE KEY-----\n${body}`;
    const { text: masked } = maskText(text, [rule("private_key_pem")], { maxSecretLength: 4096 });
    const begin = text.indexOf("-----BEGIN");
    expect(masked).toBe(`before\n«redacted:private_key_pem»${text.slice(begin + 4096)}`);
    expect(maskText(text, [rule("private_key_pem")]).text).toBe("before\n«redacted:private_key_pem»");
  });

  it("uses checksums that reject near misses", () => {
    expect(luhnValid("4111111111111111")).toBe(true);
    expect(luhnValid("4111111111111112")).toBe(false);
    expect(luhnValid("1234567812345670")).toBe(true); // valid, yet left alone: no card network starts with 1
    expect(ibanValid("DE89370400440532013000")).toBe(true);
    expect(ibanValid("DE89370400440532013001")).toBe(false);
    expect(ibanValid("DE8937040044053201300")).toBe(false);
  });
});

describe("maskText", () => {
  it("returns text without matches as it is", () => {
    const text = "SELECT id, total FROM orders WHERE id = 42 -- 2024-06-01 Zürich";
    expect(maskText(text, ALL)).toEqual({ text, findings: [] });
  });

  it("keeps non-ASCII text around secrets intact", () => {
    const { text } = maskText("Müller 😀 <müller@example.com> 日本 4111 1111 1111 1111 ✓", ALL);
    expect(text).toBe("Müller 😀 <«redacted:email»> 日本 «redacted:credit_card» ✓");
  });

  it("masks overlapping matches as one region, counted once for the first match's rule", () => {
    const { text, findings } = maskText(`Authorization: Bearer ${JWT}`, [rule("jwt"), rule("bearer_token")]);
    expect(text).toBe("Authorization: Bearer «redacted:jwt»");
    expect(findings).toEqual([{ detector: "jwt", rule: "mask-jwt", count: 1 }]);
    const gcp = `{"private_key": "${pem("PRIVATE KEY").replaceAll("\n", "\\n")}\\n"}`;
    const both = maskText(gcp, [rule("private_key_pem"), rule("gcp_service_account_key")]);
    expect(both.text).toBe('{"private_key": "«redacted:gcp_service_account_key»"}');
  });

  it("counts findings per rule; of two rules for one detector the first applies", () => {
    const rules: ContentRule[] = [
      { detector: "email", strategy: redact, rule: "pii-email" },
      { detector: "email", strategy: { kind: "null" }, rule: "unused" },
      { detector: "us_ssn", strategy: redact, rule: "pii-ssn" },
    ];
    const { findings } = maskText("a@example.com b@example.org 078-05-1120", rules);
    expect(findings).toEqual([
      { detector: "email", rule: "pii-email", count: 2 },
      { detector: "us_ssn", rule: "pii-ssn", count: 1 },
    ]);
  });

  it("is idempotent with redact, and markers alone trigger no detector", () => {
    const text = POSITIVES.map(([, t]) => t).join("\n");
    const once = maskText(text, ALL).text;
    expect(maskText(once, ALL).text).toBe(once);
    const markers = `«redacted:email» «redacted» «hash:0123456789abcdef» «hash:4111111111111111»`;
    expect(maskText(markers, ALL).text).toBe(markers);
  });

  it("rejects unknown detectors, strategies and too small bounds", () => {
    expect(() => maskText("x", [{ detector: "nope" as DetectorName, strategy: redact, rule: "r" }])).toThrow(
      /unknown masking detector/,
    );
    expect(() =>
      maskText("x", [{ detector: "email", strategy: { kind: "shred" } as never, rule: "r" }]),
    ).toThrow(/unknown masking strategy/);
    expect(() => maskText("x", [rule("email")], { maxSecretLength: 100 })).toThrow(RangeError);
  });
});

describe("strategies", () => {
  const email = "john.doe@example.com";
  const hmac = (salt: string, value: string) =>
    createHmac("sha256", salt).update(value).digest("hex").slice(0, 16);

  it("redact and null replace a match by a marker naming the detector", () => {
    expect(maskText(`to ${email}`, [rule("email")]).text).toBe("to «redacted:email»");
    expect(maskText(`to ${email}`, [rule("email", { kind: "null" })]).text).toBe("to «redacted:email»");
  });

  it("partial keeps the last four characters by default and masks at least half", () => {
    expect(maskText("card 4111 1111 1111 1111", [rule("credit_card", { kind: "partial" })]).text).toBe(
      "card ***************1111",
    );
    const keepBoth = { kind: "partial", keepStart: 2, keepEnd: 3 } as const;
    expect(maskText(`to ${email}`, [rule("email", keepBoth)]).text).toBe("to jo***************com");
    const greedy = { kind: "partial", keepStart: 10, keepEnd: 10 } as const;
    expect(maskText("ssn 078-05-1120", [rule("us_ssn", greedy)]).text).toBe("ssn 078-0******");
  });

  it("hash gives a stable HMAC token: equal values correlate, salts separate", () => {
    const salted = (salt: string) => [rule("email", { kind: "hash", salt })];
    const { text } = maskText(`${email} wrote to ${email}`, salted("pepper"));
    expect(text).toBe(`«hash:${hmac("pepper", email)}» wrote to «hash:${hmac("pepper", email)}»`);
    expect(maskText(email, salted("other")).text).toBe(`«hash:${hmac("other", email)}»`);
    const utf8 = maskText("password=pässwörd", [rule("url_password", { kind: "hash", salt: "s" })]);
    expect(utf8.text).toBe(`password=«hash:${hmac("s", "pässwörd")}»`);
  });
});

describe("maskValue", () => {
  it("masks a whole value by strategy", () => {
    expect(maskValue("secret", redact)).toBe("«redacted»");
    expect(maskValue("secret", { kind: "null" })).toBeNull();
    expect(maskValue(null, redact)).toBeNull();
    expect(maskValue("4111111111111111", { kind: "partial" })).toBe("************1111");
    expect(maskValue("abc", { kind: "partial", keepStart: 5, keepEnd: 5 })).toBe("a**");
    expect(maskValue("Zürich", { kind: "partial", keepStart: 1, keepEnd: 1 })).toBe("Z****h");
    expect(maskValue("", { kind: "partial" })).toBe("");
  });

  it("hashes like maskText, so a masked column and a masked mention correlate", () => {
    const strategy: MaskStrategy = { kind: "hash", salt: "pepper" };
    expect(maskValue(AWS_SECRET, strategy)).toBe(
      maskText(`aws_secret_access_key=${AWS_SECRET}`, [rule("aws_secret_access_key", strategy)]).text.slice(
        22,
      ),
    );
    expect(maskValue(GITHUB_TOKEN, strategy)).toMatch(/^«hash:[0-9a-f]{16}»$/);
  });
});
