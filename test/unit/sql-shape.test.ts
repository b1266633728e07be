import { beforeAll, describe, expect, it } from "vitest";
import { createSqlClassifier, initSqlClassifier } from "../../src/gate/classify/sql.ts";
import { sqlShape } from "../../src/gate/classify/sql-shape.ts";
import { EVASION_CORPUS } from "./pg-evasion-corpus.ts";
import { corpus } from "./sql-corpus.ts";

beforeAll(() => initSqlClassifier());

describe("sqlShape", () => {
  it("replaces numeric and standard string literals, and nothing else", () => {
    const a = sqlShape("SELECT abalance FROM pgbench_accounts WHERE aid = 17;");
    expect(a).toBeDefined();
    expect(sqlShape("SELECT abalance FROM pgbench_accounts WHERE aid = 987654;")).toBe(a);
    expect(sqlShape("SELECT * FROM t WHERE n = 'it''s' AND x > 1.5e-3")).toBe(
      sqlShape("SELECT * FROM t WHERE n = 'x' AND x > 2"),
    );
    // Identifiers, quoted identifiers, parameters and comments stay as written.
    expect(sqlShape("SELECT * FROM t1 WHERE a = 1")).not.toBe(sqlShape("SELECT * FROM t2 WHERE a = 1"));
    expect(sqlShape('SELECT "1" FROM t WHERE a = 1')).not.toBe(sqlShape('SELECT "2" FROM t WHERE a = 1'));
    expect(sqlShape("SELECT $1 FROM t WHERE a = 1")).not.toBe(sqlShape("SELECT $2 FROM t WHERE a = 1"));
    expect(sqlShape("SELECT 1 -- 1\nFROM t")).not.toBe(sqlShape("SELECT 1 -- 2\nFROM t"));
    // A string cannot become a number or the other way round.
    expect(sqlShape("SELECT * FROM t WHERE a = '1'")).not.toBe(sqlShape("SELECT * FROM t WHERE a = 1"));
  });

  it("is undefined where the small lexer cannot vouch for the text, or has nothing to replace", () => {
    for (const text of [
      "SELECT * FROM t",
      "SELECT E'a\\'b' FROM t",
      "SELECT 'a\\' FROM t",
      "SELECT $$1$$",
      "SELECT $tag$ 1 $tag$",
      "SELECT /* 1 */ 2",
      "SELECT x'1F'",
      "SELECT 0x1F",
      "SELECT 1e",
      "SELECT 1_000",
      "SELECT 1..2",
      "SELECT 'unterminated",
      'SELECT "unterminated',
      "SELECT \u0001N",
    ]) {
      expect(sqlShape(text), text).toBeUndefined();
    }
  });
});

/** Variants of a text with its digits and quoted strings changed (which may or may not keep the shape). */
function variants(text: string): string[] {
  return [
    text.replace(/\d+/g, (d) => String(Number(d) + 1)),
    text.replace(/'[^'\\]*'/g, "'zz'"),
    text.replace(/\d+/g, "0").replace(/'[^'\\]*'/g, "'role'"),
  ].filter((v) => v !== text);
}

describe("classification shared by shape", () => {
  const texts = [...corpus.map((c) => c.sql), ...EVASION_CORPUS.map((c) => c.sql)];
  const risky = [
    "SELECT set_config('role', 'admin', false)",
    "SELECT set_config('search_path', 'public', false)",
    "SET transaction_read_only = 1",
    "SET transaction_read_only = 0",
    "EXPLAIN (ANALYZE 0) DELETE FROM t",
    "EXPLAIN (ANALYZE 1) DELETE FROM t",
    "SELECT * FROM t WHERE id = 1 FOR UPDATE",
    "DELETE FROM t WHERE id = 3",
  ];

  it("gives every text of a known shape what a fresh classification gives it", () => {
    const shared = createSqlClassifier();
    const cold = createSqlClassifier({ cacheSize: 0 });
    let reused = 0;
    for (const text of [...texts, ...risky]) {
      shared.classify(text);
      for (const variant of variants(text)) {
        const got = shared.classify(variant);
        if (sqlShape(variant) !== undefined && sqlShape(variant) === sqlShape(text)) reused++;
        expect(got, variant).toEqual(cold.classify(variant));
      }
    }
    // The corpus does exercise the shared path (and the risky pairs do not fool it).
    expect(reused).toBeGreaterThan(50);
  });

  it("reuses one classification for DML that differs only in constants", () => {
    const classifier = createSqlClassifier();
    const first = classifier.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 1");
    expect(classifier.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 2")).toBe(first);
    const set = classifier.classify("SELECT set_config('role', 'admin', false)");
    expect(set.flags).toContain("set_role");
    expect(classifier.classify("SELECT set_config('application_name', 'x', false)").flags).not.toContain(
      "set_role",
    );
  });
});
