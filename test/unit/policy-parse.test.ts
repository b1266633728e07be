import { describe, expect, it } from "vitest";
import { parsePolicyFiles } from "../../src/domain/policy/parse.ts";
import {
  diffSummary,
  initialPolicyState,
  policyHash,
  publishPolicy,
} from "../../src/domain/policy/publish.ts";

const author = { subject: "ops", groups: [], kind: "human" as const };
const base = `targets:
  - name: db
    protocol: postgres
    address: 127.0.0.1:5432
access:
  - name: agents-db
    who: { groups: [agents] }
    targets: [db]
    level: read-only
`;

describe("policy documents", () => {
  it("merges several files and keeps the source as written", () => {
    const rules = "rules:\n  - name: no-drop\n    action: deny\n    match: { sql: { flags: [drop] } }\n";
    const { document, source } = parsePolicyFiles([
      { file: "a.yaml", text: base },
      { file: "b.yaml", text: rules },
    ]);
    expect(document.targets.map((t) => t.name)).toEqual(["db"]);
    expect(document.rules.map((r) => r.name)).toEqual(["no-drop"]);
    expect(document.access[0]?.maxTtl).toBe(3_600_000);
    expect((source.access as { maxTtl?: string }[])[0]?.maxTtl).toBeUndefined();
  });

  it("names file, line and key of an invalid value", () => {
    const bad = base.replace("level: read-only", "level: superuser");
    expect(() => parsePolicyFiles([{ file: "p.yaml", text: bad }])).toThrow(
      /p\.yaml:9:12 access\.0\.level: /,
    );
  });

  it("refuses an inline secret where a reference is required", () => {
    const bad = base.replace(
      "address: 127.0.0.1:5432",
      "address: 127.0.0.1:5432\n    credential: postgres://u:pw@h/db",
    );
    expect(() => parsePolicyFiles([{ file: "p.yaml", text: bad }])).toThrow(
      /p\.yaml:5:17 targets\.0\.credential/,
    );
  });

  it("refuses duplicate names across files and unknown masking profiles, naming the place", () => {
    expect(() =>
      parsePolicyFiles([
        { file: "a.yaml", text: base },
        { file: "b.yaml", text: base.split("access:")[0] as string },
      ]),
    ).toThrow(/b\.yaml:2:11 targets: the name "db" is used twice/);
    const unknown = base.replace("level: read-only", "level: read-only\n    masking: pii");
    expect(() => parsePolicyFiles([{ file: "p.yaml", text: unknown }])).toThrow(
      /p\.yaml:10:14 unknown masking profile "pii"/,
    );
  });

  it("refuses a rule without a valid action and an approval rule without approvers", () => {
    expect(() =>
      parsePolicyFiles([{ file: "p.yaml", text: "rules:\n  - name: x\n    action: maybe\n" }]),
    ).toThrow(/p\.yaml:\d+:\d+ rules\.0\.action/);
    expect(() =>
      parsePolicyFiles([{ file: "p.yaml", text: "rules:\n  - name: x\n    action: require_approval\n" }]),
    ).toThrow(/rules\.0\.approval/);
  });
});

describe("publishing a version", () => {
  const source = parsePolicyFiles([{ file: "a.yaml", text: base }]).source;

  it("publishes version 1 with its hash, then nothing for an identical document", () => {
    const first = publishPolicy(initialPolicyState, { source, author });
    expect(first).toMatchObject({
      version: 1,
      hash: policyHash(source),
      diff: ["targets: +db", "access: +agents-db"],
    });
    const state = { version: 1, hash: first?.hash ?? null, source };
    expect(publishPolicy(state, { source: structuredClone(source), author })).toBeNull();
  });

  it("summarises added, changed and removed items", () => {
    const next = parsePolicyFiles([
      {
        file: "a.yaml",
        text: base
          .replace("read-only", "read-write")
          .replace("name: db", "name: db2")
          .replace("[db]", "[db2]"),
      },
    ]).source;
    expect(diffSummary(source, next)).toEqual(["targets: +db2 -db", "access: ~agents-db"]);
  });
});
