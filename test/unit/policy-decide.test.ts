import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { ClassifiedCommand, SqlFacts } from "../../src/domain/policy/command.ts";
import { decide, type PolicySnapshot } from "../../src/domain/policy/decide.ts";
import { parsePolicyFiles } from "../../src/domain/policy/parse.ts";

const example = parsePolicyFiles([
  {
    file: "examples/policy.yaml",
    text: readFileSync(new URL("../../examples/policy.yaml", import.meta.url), "utf8"),
  },
]);
const policy: PolicySnapshot = { version: 7, document: example.document };
const now = new Date("2026-11-25T10:00:00Z");

const sql = (facts: Partial<SqlFacts>, text = "…"): ClassifiedCommand => ({
  protocol: "postgres",
  text,
  sql: { parsed: true, kinds: ["select"], relations: [], functions: [], flags: [], readOnly: true, ...facts },
});
const ssh = (
  request: "exec" | "shell" | "port_forward",
  text: string,
  programs: string[] = [],
): ClassifiedCommand => ({
  protocol: "ssh",
  text,
  ssh: { request, programs, sudo: false },
});
const kube = (verb: string, resource: string, method = "GET", subresource?: string): ClassifiedCommand => ({
  protocol: "kubernetes",
  text: `${method} /api/v1/namespaces/prod/${resource}`,
  http: {
    method,
    path: `/api/v1/namespaces/prod/${resource}`,
    verb,
    resource,
    namespace: "prod",
    subresource,
  },
});

const agent = { subject: "agent-42", groups: ["agents"] };
const dba = { subject: "dana", groups: ["dba"] };
const deployer = { subject: "deploy-agent", groups: [] };
const stranger = { subject: "nobody", groups: ["visitors"] };

/** Given an identity, a target and a command, when the policy decides, then … */
const table: [string, typeof agent, string, ClassifiedCommand, string, string | null, string?][] = [
  [
    "a grant's level allows a read",
    agent,
    "orders-db",
    sql({ relations: ["public.orders"] }),
    "allow",
    "access:agents-orders",
    "pii",
  ],
  [
    "a read-only grant does not allow a write",
    agent,
    "orders-db",
    sql({ kinds: ["update"], relations: ["public.customers"], readOnly: false }),
    "deny",
    "access:agents-orders",
  ],
  [
    "a write to orders is held for approval",
    agent,
    "orders-db",
    sql({ kinds: ["update"], relations: ["public.orders"], readOnly: false }),
    "require_approval",
    "approve-order-writes",
  ],
  [
    "an unqualified relation cannot evade the schema-qualified rule",
    agent,
    "orders-db",
    sql({ kinds: ["delete"], relations: ["orders"], readOnly: false }),
    "require_approval",
    "approve-order-writes",
  ],
  [
    "an allow rule widens a grant",
    agent,
    "orders-db",
    sql({ kinds: ["insert"], relations: ["public.audit_notes"], readOnly: false }),
    "allow",
    "agents-append-audit-notes",
    "pii",
  ],
  [
    "deny beats require_approval",
    dba,
    "orders-db",
    sql({ kinds: ["drop"], relations: ["public.orders"], flags: ["drop", "ddl"], readOnly: false }),
    "deny",
    "no-destructive-sql",
  ],
  [
    "deny beats the admin grant",
    dba,
    "orders-db",
    sql({ kinds: ["grant"], flags: ["privilege"], readOnly: false }),
    "deny",
    "no-destructive-sql",
  ],
  [
    "admin covers other DDL",
    dba,
    "orders-db",
    sql({ kinds: ["create_table"], flags: ["ddl"], readOnly: false }),
    "allow",
    "access:dba-all",
    "pii",
  ],
  [
    "unparseable SQL is denied",
    dba,
    "orders-db",
    sql({ parsed: false, kinds: [], readOnly: false }),
    "deny",
    "no-unparseable-sql",
  ],
  ["no grant, no access", stranger, "orders-db", sql({}), "deny", null],
  ["a grant covers only its targets", agent, "web-1", ssh("exec", "uptime", ["uptime"]), "deny", null],
  [
    "an ssh exec within read-write",
    deployer,
    "web-1",
    ssh("exec", "systemctl status app", ["systemctl"]),
    "allow",
    "access:deployer-web",
  ],
  [
    "a restart is held",
    deployer,
    "web-1",
    ssh("exec", "sudo systemctl restart app", ["sudo", "systemctl"]),
    "require_approval",
    "approve-restarts",
  ],
  [
    "port forwarding is denied",
    deployer,
    "web-1",
    ssh("port_forward", "127.0.0.1:5432"),
    "deny",
    "no-port-forwarding",
  ],
  ["kubectl get pods", deployer, "cluster", kube("list", "pods"), "allow", "access:deployer-web"],
  [
    "kubectl delete pod is held",
    deployer,
    "cluster",
    kube("delete", "pods", "DELETE"),
    "require_approval",
    "approve-pod-deletes",
  ],
  [
    "writing a secret is denied",
    deployer,
    "cluster",
    kube("update", "secrets", "PUT"),
    "deny",
    "no-secrets-write",
  ],
  [
    "exec into a pod needs admin",
    deployer,
    "cluster",
    kube("create", "pods", "POST", "exec"),
    "deny",
    "access:deployer-web",
  ],
  [
    "an admin may exec into a pod",
    dba,
    "cluster",
    kube("create", "pods", "POST", "exec"),
    "allow",
    "access:dba-all",
  ],
];

describe("decide", () => {
  it.each(table)("%s", (_title, identity, target, command, decision, rule, masking) => {
    const result = decide({ identity, target, command, policy, now });
    expect({ decision: result.decision, rule: result.rule }).toEqual({ decision, rule });
    expect(result.policyVersion).toBe(7);
    expect(result.reason.length).toBeGreaterThan(0);
    if (masking) expect(result.masking).toBe(masking);
  });

  it("names approvers, quorum, timeout and reuse window of a hold", () => {
    const result = decide({
      identity: agent,
      target: "orders-db",
      command: sql({ kinds: ["insert"], relations: ["public.order_items"], readOnly: false }),
      policy,
      now,
    });
    expect(result.approval).toEqual({
      groups: ["dba"],
      quorum: 1,
      timeoutMs: 900_000,
      reuseWithinMs: 600_000,
    });
  });

  it("lets a sub-task credential narrow the grant, rules included", () => {
    const write = sql({ kinds: ["insert"], relations: ["public.audit_notes"], readOnly: false });
    const scoped = decide({
      identity: agent,
      target: "orders-db",
      command: write,
      policy,
      now,
      session: { access: "read-only" },
    });
    expect(scoped).toMatchObject({ decision: "deny", rule: "credential-scope" });
    const read = decide({
      identity: dba,
      target: "orders-db",
      command: sql({}),
      policy,
      now,
      session: { access: "read-only" },
    });
    expect(read).toMatchObject({ decision: "allow", rule: "access:dba-all" });
  });

  it("does not let an allow rule cover a command that does more than the rule describes", () => {
    // WITH d AS (DELETE FROM customers RETURNING *) INSERT INTO audit_notes SELECT … FROM d
    const smuggled = sql({
      kinds: ["insert", "delete"],
      relations: ["public.audit_notes", "public.customers"],
      readOnly: false,
    });
    expect(decide({ identity: agent, target: "orders-db", command: smuggled, policy, now })).toMatchObject({
      decision: "deny",
      rule: "access:agents-orders",
    });
    const chained = ssh("exec", "uptime; rm -rf /", ["uptime", "rm"]);
    const allowUptime: PolicySnapshot = {
      version: 2,
      document: {
        ...policy.document,
        access: [
          {
            name: "ro",
            who: { subjects: ["viewer"] },
            targets: ["web-1"],
            level: "read-only",
            maxTtl: 60_000,
          },
        ],
        rules: [{ name: "uptime-ok", action: "allow", match: { ssh: { programs: ["uptime"] } } }],
      },
    };
    const viewer = { subject: "viewer", groups: [] };
    const alone = ssh("exec", "uptime", ["uptime"]);
    expect(decide({ identity: viewer, target: "web-1", command: alone, policy: allowUptime, now }).rule).toBe(
      "uptime-ok",
    );
    expect(
      decide({ identity: viewer, target: "web-1", command: chained, policy: allowUptime, now }),
    ).toMatchObject({
      decision: "deny",
      rule: "access:ro",
    }); // A shell runs no named program: a rule naming programs does not cover it.
    expect(
      decide({ identity: viewer, target: "web-1", command: ssh("shell", ""), policy: allowUptime, now }),
    ).toMatchObject({
      decision: "deny",
    });
  });

  it("denies everything under an empty policy (default deny)", () => {
    const empty: PolicySnapshot = {
      version: 1,
      document: { targets: [], access: [], rules: [], masking: [] },
    };
    expect(
      decide({ identity: dba, target: "orders-db", command: sql({}), policy: empty, now }).decision,
    ).toBe("deny");
  });
});
