import { performance } from "node:perf_hooks";
import { beforeAll, describe, expect, it } from "vitest";
import { classifySql, createSqlClassifier, initSqlClassifier } from "../../src/gate/classify/sql.ts";
import { corpus } from "./sql-corpus.ts";

beforeAll(async () => {
  await initSqlClassifier();
});

describe("classifySql corpus", () => {
  it("has at least 150 statements", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(150);
  });

  it.for(corpus)("$sql", (given) => {
    const got = classifySql(given.sql);
    if ("parsed" in given) {
      expect(got.parsed).toBe(false);
      expect(got.error).toEqual(expect.any(String));
      expect(got.readOnly).toBe(false);
      return;
    }
    expect(got.error).toBeUndefined();
    expect({
      parsed: got.parsed,
      kinds: got.kinds,
      reads: got.reads,
      writes: got.writes,
      functions: got.functions,
      flags: got.flags,
      readOnly: got.readOnly,
    }).toEqual({
      parsed: true,
      kinds: given.kinds,
      reads: given.reads ?? [],
      writes: given.writes ?? [],
      functions: given.functions ?? [],
      flags: given.flags ?? [],
      readOnly: given.readOnly,
    });
    expect(got.relations).toEqual([...new Set([...got.reads, ...got.writes])].sort());
  });
});

describe("classifySql statements", () => {
  it("classifies every statement of a multi-statement string on its own", () => {
    const got = classifySql("SELECT * FROM a; DELETE FROM b; SET ROLE admin");
    expect(got.statements).toEqual([
      { kind: "select", reads: ["a"], writes: [], functions: [], flags: [], innerKinds: [], readOnly: true },
      {
        kind: "delete",
        reads: [],
        writes: ["b"],
        functions: [],
        flags: ["delete_without_where"],
        innerKinds: [],
        readOnly: false,
      },
      {
        kind: "set",
        reads: [],
        writes: [],
        functions: [],
        flags: ["set_role"],
        innerKinds: [],
        readOnly: false,
      },
    ]);
    expect(got.flags).toContain("multi_statement");
  });

  it("keeps the outer kind of a statement wrapping DML and names the inner one", () => {
    const [statement] = classifySql("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d").statements;
    expect(statement?.kind).toBe("select");
    expect(statement?.innerKinds).toEqual(["delete"]);
  });

  it("returns parsed: false with the parser's message instead of throwing", () => {
    const got = classifySql("DEL/**/ETE FROM users");
    expect(got).toMatchObject({ parsed: false, statements: [], readOnly: false });
    expect(got.error).toMatch(/syntax error at or near "DEL"/);
  });

  it("refuses rather than throws on absurdly deep expressions", () => {
    const deep = classifySql(`SELECT ${"1+".repeat(20_000)}1`);
    expect(deep.parsed).toBe(false);
    const nested = classifySql(`SELECT ${"(SELECT ".repeat(2_000)}1${")".repeat(2_000)}`);
    expect(nested.parsed).toBe(false);
  });

  it("returns frozen results", () => {
    const got = classifySql("SELECT * FROM frozen_check");
    expect(Object.isFrozen(got)).toBe(true);
    expect(Object.isFrozen(got.reads)).toBe(true);
    expect(Object.isFrozen(got.statements[0])).toBe(true);
  });
});

describe("classification cache", () => {
  it("returns the same object for the same text", () => {
    const classifier = createSqlClassifier();
    const first = classifier.classify("SELECT * FROM cached");
    expect(classifier.classify("SELECT * FROM cached")).toBe(first);
    expect(classifier.classify("select * from cached")).not.toBe(first);
    expect(classifySql("SELECT 42")).toBe(classifySql("SELECT 42"));
  });

  it("is bounded and forgets the least recently used text", () => {
    const classifier = createSqlClassifier({ cacheSize: 3 });
    const a = classifier.classify("SELECT * FROM a");
    classifier.classify("SELECT * FROM b");
    classifier.classify("SELECT * FROM c");
    expect(classifier.classify("SELECT * FROM a")).toBe(a); // a is now the most recent
    classifier.classify("SELECT * FROM d"); // evicts b
    expect(classifier.cached).toBe(3);
    expect(classifier.classify("SELECT * FROM a")).toBe(a);
    for (let i = 0; i < 100; i++) classifier.classify(`SELECT * FROM t${i}`);
    expect(classifier.cached).toBe(3);
    expect(classifier.classify("SELECT * FROM a")).not.toBe(a);
  });

  it("does not cache texts longer than maxCachedLength", () => {
    const classifier = createSqlClassifier({ maxCachedLength: 10 });
    const text = "SELECT * FROM a_long_table_name";
    expect(classifier.classify(text)).not.toBe(classifier.classify(text));
    expect(classifier.cached).toBe(0);
  });

  it("caches unparseable text too", () => {
    const classifier = createSqlClassifier();
    expect(classifier.classify("SELEC 1")).toBe(classifier.classify("SELEC 1"));
  });
});

describe("classification speed (reported, not asserted)", () => {
  it("measures cold parse and cached lookups", () => {
    const texts = corpus.map((c) => c.sql);
    const rounds = 20;
    const cold = createSqlClassifier({ cacheSize: 0 });
    let start = performance.now();
    for (let r = 0; r < rounds; r++) for (const text of texts) cold.classify(text);
    const coldUs = ((performance.now() - start) * 1000) / (rounds * texts.length);
    const warm = createSqlClassifier();
    for (const text of texts) warm.classify(text);
    start = performance.now();
    for (let r = 0; r < rounds * 10; r++) for (const text of texts) warm.classify(text);
    const warmUs = ((performance.now() - start) * 1000) / (rounds * 10 * texts.length);
    console.log(
      `sql classify over ${texts.length} corpus texts: cold ${coldUs.toFixed(1)} µs, cached ${warmUs.toFixed(2)} µs`,
    );
    expect(coldUs).toBeGreaterThan(0);
  });
});
