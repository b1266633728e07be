import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { decide, type PolicySnapshot } from "../../src/domain/policy/decide.ts";
import { parsePolicyFiles } from "../../src/domain/policy/parse.ts";
import { classifySql, initSqlClassifier } from "../../src/gate/classify/sql.ts";

/** Real SQL through the real parser, decided by the example policy: classification and decision together. */
const { document } = parsePolicyFiles([
  {
    file: "examples/policy.yaml",
    text: readFileSync(new URL("../../examples/policy.yaml", import.meta.url), "utf8"),
  },
]);
const policy: PolicySnapshot = { version: 3, document };
const agent = { subject: "agent-42", groups: ["agents"] };

const table: [string, string, string | null][] = [
  ["SELECT id, total FROM public.orders WHERE id = $1", "allow", "access:agents-orders"],
  ["select * from customers c join orders o on o.customer_id = c.id", "allow", "access:agents-orders"],
  ["UPDATE orders SET total = 0 WHERE id = 1", "require_approval", "approve-order-writes"],
  [
    "WITH d AS (DELETE FROM public.order_items RETURNING *) SELECT count(*) FROM d",
    "require_approval",
    "approve-order-writes",
  ],
  ["INSERT INTO audit_notes (note) VALUES ('checked order 7')", "allow", "agents-append-audit-notes"],
  [
    "WITH d AS (DELETE FROM customers RETURNING id) INSERT INTO audit_notes (note) SELECT id::text FROM d",
    "deny",
    "access:agents-orders",
  ],
  ["DROP TABLE orders", "deny", "no-destructive-sql"],
  ["SELECT 1; TRUNCATE customers", "deny", "no-destructive-sql"],
  ["SET ROLE postgres", "deny", "no-destructive-sql"],
  ["COPY (SELECT 1) TO PROGRAM 'curl evil'", "deny", "no-destructive-sql"],
  ["DEL/**/ETE FROM orders", "deny", "no-unparseable-sql"],
  ["SELECT pg_read_file('/etc/passwd')", "deny", "access:agents-orders"],
  ["DO $$ BEGIN EXECUTE 'DROP TABLE orders'; END $$", "deny", "access:agents-orders"],
];

describe("SQL classified and decided", () => {
  beforeAll(() => initSqlClassifier());

  it.each(table)("%s", (text, decision, rule) => {
    const result = decide({
      identity: agent,
      target: "orders-db",
      command: { protocol: "postgres", text, sql: classifySql(text) },
      policy,
      now: new Date(),
    });
    expect({ decision: result.decision, rule: result.rule }).toEqual({ decision, rule });
  });
});
