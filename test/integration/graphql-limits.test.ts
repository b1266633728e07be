import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GraphqlHarness, outcome, startGraphqlHarness } from "../support/graphql-harness.ts";
import { makeTempDir } from "../support/tempdir.ts";

const nested = (levels: number) =>
  `{ task(id: "t") { ${"parent { ".repeat(levels)}id${" }".repeat(levels)} } }`;

describe("GraphQL limits, input errors and masked internals", () => {
  let h: GraphqlHarness;

  beforeAll(async () => {
    h = await startGraphqlHarness(", graphql: { maxDepth: 8, maxCost: 2000, maxAliases: 3 }");
  });
  afterAll(async () => {
    await h?.close();
  });

  it("refuses queries past the depth, cost and alias limits with QUERY_TOO_COMPLEX, before running them", async () => {
    expect(outcome(await h.gql("audrey", nested(5)))).toBe("OK");
    const deep = await h.gql("audrey", nested(12));
    expect(outcome(deep)).toBe("QUERY_TOO_COMPLEX");
    expect(deep.errors?.map((e) => e.message)).toContain(
      "Syntax Error: Query depth limit of 8 exceeded, found 14.",
    );
    const aliases = await h.gql(
      "audrey",
      "{ a: viewer { subject } b: viewer { subject } c: viewer { subject } d: viewer { subject } }",
    );
    expect(outcome(aliases)).toBe("QUERY_TOO_COMPLEX");
    expect(
      outcome(await h.gql("audrey", "{ auditSearch(first: 20) { edges { node { id command } } } }")),
    ).toBe("OK");
    const costly = await h.gql("audrey", "{ auditSearch(first: 500) { edges { node { id command } } } }");
    expect(outcome(costly)).toBe("QUERY_TOO_COMPLEX");
    expect(costly.errors?.[0]?.message).toMatch(
      /^Syntax Error: Query Cost limit of 2000 exceeded, found \d+/,
    );
  });

  it("answers bad input with BAD_USER_INPUT and a message for the caller", async () => {
    expect(
      outcome(await h.gql("audrey", '{ auditSearch(after: "not-a-cursor") { edges { cursor } } }')),
    ).toBe("BAD_USER_INPUT");
    expect(
      outcome(await h.gql("audrey", '{ events(stream: "policy", after: "WyJ4Il0") { edges { cursor } } }')),
    ).toBe("BAD_USER_INPUT");
    const tooMany = await h.gql("audrey", "query($n: Int) { sessions(first: $n) { edges { cursor } } }", {
      n: 100_000,
    });
    expect(tooMany.errors?.[0]).toMatchObject({
      message: "first must be between 0 and 500",
      extensions: { code: "BAD_USER_INPUT" },
    });
    const badTime = await h.gql(
      "audrey",
      '{ auditSearch(filter: { from: "yesterday" }) { edges { cursor } } }',
    );
    expect(badTime.errors?.[0]?.message).toContain("DateTime must be ISO 8601");
    const badPolicy = await h.gql(
      "adam",
      'mutation { publishPolicy(files: [{ name: "p.yaml", yaml: "rules: 7" }]) { version } }',
    );
    expect(badPolicy.errors?.[0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    expect(badPolicy.errors?.[0]?.message).toContain("p.yaml");
  });

  it("hides unexpected failures: INTERNAL_SERVER_ERROR, no detail", async () => {
    // The read models gone under a running API: whatever the failure says stays in the log.
    await h.gateway.readSide.stop();
    const failed = await h.gql("audrey", '{ session(id: "s") { id } }');
    expect(failed.errors).toEqual([
      {
        message: "Unexpected error.",
        locations: [{ line: 1, column: 3 }],
        path: ["session"],
        extensions: { code: "INTERNAL_SERVER_ERROR" },
      },
    ]);
  });
});

describe("GraphQL persisted operations", () => {
  const dir = makeTempDir("persisted");
  const listed = "{ viewer { subject } }";
  const hash = createHash("sha256").update(listed).digest("hex");
  let h: GraphqlHarness;

  beforeAll(async () => {
    const file = join(dir.path, "operations.json");
    writeFileSync(file, JSON.stringify({ [hash]: listed }));
    h = await startGraphqlHarness(`, graphql: { persistedOperations: { file: ${JSON.stringify(file)} } }`);
  });
  afterAll(async () => {
    await h?.close();
    dir.remove();
  });

  it("runs only operations from the allow-list, by hash or by their exact text", async () => {
    const byHash = await h.post(
      { extensions: { persistedQuery: { version: 1, sha256Hash: hash } } },
      h.tokens.audrey,
    );
    expect(byHash.data).toEqual({ viewer: { subject: "audrey" } });
    expect((await h.gql("audrey", listed)).data).toEqual({ viewer: { subject: "audrey" } });
    expect(outcome(await h.gql("audrey", "{ viewer { groups } }"))).toBe("PERSISTED_QUERY_ONLY");
    const unknown = await h.post(
      { extensions: { persistedQuery: { version: 1, sha256Hash: "0".repeat(64) } } },
      h.tokens.audrey,
    );
    expect(outcome(unknown)).toBe("PERSISTED_QUERY_NOT_FOUND");
  });
});
