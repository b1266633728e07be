import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClassifiedCommand } from "../../src/domain/policy/command.ts";
import { classifySql, initSqlClassifier } from "../../src/gate/classify/sql.ts";
import type { Session, Verdict } from "../../src/gate/gate.ts";
import {
  type GraphqlHarness,
  outcome,
  PERSONAS,
  type Persona,
  POLICY,
  startGraphqlHarness,
} from "../support/graphql-harness.ts";

const sql = (text: string): ClassifiedCommand => ({ protocol: "postgres", text, sql: classifySql(text) });
const ALL = Object.keys(PERSONAS) as Persona[];

describe("GraphQL API: roles over HTTP with a real OIDC provider", () => {
  let h: GraphqlHarness;
  let session: Session;
  let credentialId: string;
  let orderApproval: string;
  let refundApproval: string;
  let released: Verdict;

  beforeAll(async () => {
    await initSqlClassifier();
    h = await startGraphqlHarness(
      ", roles: { auditor: [auditors], approver: [approvers], admin: [admins], agent: [agents] }",
    );
    // Admin publishes the policy; the agent declares a task and takes a credential — all through GraphQL.
    const published = await h.gql(
      "adam",
      `mutation($f: [PolicyFileInput!]!) { publishPolicy(files: $f) { published version policy { version author } } }`,
      {
        f: [{ name: "policy.yaml", yaml: POLICY }],
      },
    );
    expect(published.data).toEqual({
      publishPolicy: { published: true, version: 1, policy: { version: 1, author: "adam" } },
    });
    await h.gql("agent-42", `mutation { declareTask(input: { id: "fix-7", intent: "fix order 7" }) { id } }`);
    const declared = await h.gql(
      "agent-42",
      `mutation { declareTask(input: { id: "fix-7-read", parentId: "fix-7", intent: "look first" }) { id parent { id } } }`,
    );
    expect(declared.data).toEqual({ declareTask: { id: "fix-7-read", parent: { id: "fix-7" } } });
    const issued = await h.gql(
      "agent-42",
      `mutation { issueCredential(input: { target: "orders-db", access: "read-write", taskId: "fix-7-read", ttl: "10m" }) { token credential { id status subject taskId } } }`,
    );
    const { token, credential } = (
      issued.data as { issueCredential: { token: string; credential: { id: string } } }
    ).issueCredential;
    expect(credential).toMatchObject({ status: "ACTIVE", subject: "agent-42", taskId: "fix-7-read" });
    credentialId = credential.id;

    // The agent works through the gate: one allowed, two held (one for dba, one for leads).
    const { gate } = h.gateway;
    session = await gate.openSession({
      principal: await gate.authenticate(token),
      target: "orders-db",
      protocol: "postgres",
      client: { address: "127.0.0.1:5000" },
    });
    const read = await gate.decide(session, sql("SELECT id, total FROM orders WHERE id = 7"));
    await gate.complete(session, read.commandId, {
      status: "ok",
      durationMs: 1,
      rows: 1,
      tag: "SELECT 1",
      masked: [],
      output: "id|total\n7|90",
    });
    const held = await gate.decide(session, sql("UPDATE orders SET total = 0 WHERE id = 7"));
    const refund = await gate.decide(session, sql("DELETE FROM refunds WHERE id = 3"));
    if (held.kind !== "hold" || refund.kind !== "hold") throw new Error("expected both to be held");
    orderApproval = held.approvalId;
    refundApproval = refund.approvalId;
    const waiting = held.wait();

    // The approver releases the held command through GraphQL.
    const approved = await h.gql(
      "dana",
      `mutation($id: ID!) { approve(approvalId: $id, comment: "month end is over") { status approvals votes { voter vote comment } } }`,
      { id: orderApproval },
    );
    expect(approved.data).toEqual({
      approve: {
        status: "GRANTED",
        approvals: 1,
        votes: [{ voter: "dana", vote: "APPROVE", comment: "month end is over" }],
      },
    });
    released = await waiting;
  });
  afterAll(async () => {
    await h?.close();
  });

  it("releases the held command once the approval is cast through GraphQL", async () => {
    expect(released).toMatchObject({ kind: "allow", rule: "approve-order-writes" });
    const again = await h.gql("dana", `mutation($id: ID!) { approve(approvalId: $id) { status } }`, {
      id: orderApproval,
    });
    expect(again.errors?.[0]).toMatchObject({
      message: `approval ${orderApproval} is already granted`,
      extensions: { code: "FORBIDDEN" },
    });
    expect(outcome(await h.gql("dana", `mutation { approve(approvalId: "no-such") { status } }`))).toBe(
      "NOT_FOUND",
    );
  });

  const matrix: { name: string; query: string; allowed: Persona[] }[] = [
    { name: "viewer", query: "{ viewer { subject } }", allowed: ALL },
    {
      name: "policy",
      query: "{ policy { version decisions { rule count } } }",
      allowed: ["audrey", "dana", "adam"],
    },
    { name: "targets", query: "{ targets { name } }", allowed: ["audrey", "adam"] },
    {
      name: "approvalQueue",
      query: "{ approvalQueue { edges { node { id } } } }",
      allowed: ["audrey", "dana"],
    },
    { name: "approvals", query: "{ approvals { edges { node { id } } } }", allowed: ["audrey", "dana"] },
    { name: "sessions", query: "{ sessions { edges { node { id } } } }", allowed: ["audrey"] },
    {
      name: "tasks",
      query: "{ tasks { edges { node { id } } } }",
      allowed: ["audrey", "adam", "agent-42", "agent-7"],
    },
    {
      name: "credentials",
      query: "{ credentials { edges { node { id } } } }",
      allowed: ["audrey", "adam", "agent-42", "agent-7"],
    },
    { name: "auditSearch", query: "{ auditSearch { edges { node { id } } } }", allowed: ["audrey"] },
    {
      name: "events",
      query: '{ events(stream: "policy") { edges { node { hash } } } }',
      allowed: ["audrey"],
    },
    { name: "verifyLedger", query: "{ verifyLedger { ok } }", allowed: ["audrey"] },
    { name: "projections", query: "{ projections { name lag } }", allowed: ["audrey", "adam"] },
    {
      name: "publishPolicy (unchanged)",
      query: `mutation { publishPolicy(files: [{ name: "p.yaml", yaml: ${JSON.stringify(POLICY)} }]) { published } }`,
      allowed: ["adam"],
    },
  ];

  it.each(matrix)(
    "$name: allowed exactly for its roles, FORBIDDEN for the rest",
    async ({ query, allowed }) => {
      for (const persona of ALL) {
        const result = await h.gql(persona, query);
        expect([persona, outcome(result)]).toEqual([persona, allowed.includes(persona) ? "OK" : "FORBIDDEN"]);
        if (!allowed.includes(persona)) {
          expect(result.errors?.[0]?.message).toMatch(/needs the role|sees only|only its own/);
          expect(result.status).toBe(200);
        }
      }
    },
  );

  it("keeps mutations to their roles", async () => {
    const declare = (id: string) =>
      `mutation { declareTask(input: { id: "${id}", intent: "x" }) { id agent } }`;
    for (const persona of ["audrey", "dana", "nobody"] as const) {
      expect(outcome(await h.gql(persona, declare(`t-${persona}`)))).toBe("FORBIDDEN");
      expect(outcome(await h.gql(persona, `mutation { approve(approvalId: "x") { id } }`))).toBe(
        persona === "dana" ? "NOT_FOUND" : "FORBIDDEN",
      );
    }
    expect((await h.gql("adam", declare("t-adam"))).data).toEqual({
      declareTask: { id: "t-adam", agent: "adam" },
    });
    expect(
      outcome(await h.gql("agent-42", `mutation { approve(approvalId: "${refundApproval}") { id } }`)),
    ).toBe("FORBIDDEN");
    // An approver outside the request's approver groups is refused by the decider.
    const wrongGroup = await h.gql(
      "dana",
      `mutation($id: ID!) { deny(approvalId: $id, reason: "no") { status } }`,
      { id: refundApproval },
    );
    expect(wrongGroup.errors?.[0]).toMatchObject({ extensions: { code: "FORBIDDEN" } });
    expect(wrongGroup.errors?.[0]?.message).toContain("is not in an approver group (leads)");
  });

  it("shows an approver only the approvals its groups may vote on, and their sessions", async () => {
    const queue = await h.gql(
      "dana",
      "{ approvals { edges { node { id status canVote session { id } } } } }",
    );
    expect(queue.data).toEqual({
      approvals: {
        edges: [
          {
            node: {
              id: orderApproval,
              status: "GRANTED",
              canVote: false,
              session: { id: session.sessionId },
            },
          },
        ],
      },
    });
    expect(outcome(await h.gql("dana", `{ approval(id: "${refundApproval}") { id } }`))).toBe("FORBIDDEN");
    expect((await h.gql("dana", `{ session(id: "${session.sessionId}") { id commandCount } }`)).data).toEqual(
      {
        session: { id: session.sessionId, commandCount: 3 },
      },
    );
    const all = await h.gql(
      "audrey",
      "{ approvalQueue { edges { node { id approverGroups ageSeconds expiresInSeconds } } } }",
    );
    const pending = (
      all.data as {
        approvalQueue: { edges: { node: { id: string; ageSeconds: number; expiresInSeconds: number } }[] };
      }
    ).approvalQueue.edges;
    expect(pending.map((e) => e.node.id)).toEqual([refundApproval]);
    expect(pending[0]?.node.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(pending[0]?.node.expiresInSeconds).toBeGreaterThan(0);
  });

  it("shows an agent only its own tasks and credentials", async () => {
    const own = await h.gql(
      "agent-42",
      "{ tasks(filter: { rootsOnly: true }) { edges { node { id subTasks { id credentials { id status } } } } } }",
    );
    expect(own.data).toEqual({
      tasks: {
        edges: [
          {
            node: {
              id: "fix-7",
              subTasks: [{ id: "fix-7-read", credentials: [{ id: credentialId, status: "ACTIVE" }] }],
            },
          },
        ],
      },
    });
    expect(
      (await h.gql("agent-7", "{ tasks { edges { node { id } } } credentials { edges { node { id } } } }"))
        .data,
    ).toEqual({
      tasks: { edges: [] },
      credentials: { edges: [] },
    });
    expect(outcome(await h.gql("agent-7", '{ task(id: "fix-7") { id } }'))).toBe("FORBIDDEN");
    expect(outcome(await h.gql("agent-7", `{ credential(id: "${credentialId}") { id } }`))).toBe("FORBIDDEN");
    expect(
      outcome(
        await h.gql("agent-7", '{ credentials(filter: { agent: "agent-42" }) { edges { node { id } } } }'),
      ),
    ).toBe("FORBIDDEN");
    expect(
      outcome(
        await h.gql(
          "agent-7",
          'mutation { declareTask(input: { parentId: "fix-7", intent: "sneak in" }) { id } }',
        ),
      ),
    ).toBe("FORBIDDEN");
    expect(outcome(await h.gql("agent-42", '{ task(id: "fix-7") { sessions { id } } }'))).toBe("FORBIDDEN");
    expect(
      outcome(
        await h.gql(
          "agent-7",
          `mutation { revokeCredential(credentialId: "${credentialId}", reason: "x") { status } }`,
        ),
      ),
    ).toBe("FORBIDDEN");
  });

  it("answers the auditor: what the agent did for the task, who allowed it, under which policy, what it saw", async () => {
    const result = await h.gql(
      "audrey",
      `{ auditSearch(filter: { agent: "agent-42", taskId: "fix-7-read" }) { edges { node {
          command decision rule policyVersion approval { status votes { voter } }
          events { type data } } } } }`,
    );
    const edges = (result.data as { auditSearch: { edges: { node: Record<string, unknown> }[] } }).auditSearch
      .edges;
    expect(edges.map((e) => [e.node.command, e.node.decision, e.node.rule, e.node.policyVersion])).toEqual([
      ["DELETE FROM refunds WHERE id = 3", "REQUIRE_APPROVAL", "approve-refunds", 1],
      ["UPDATE orders SET total = 0 WHERE id = 7", "REQUIRE_APPROVAL", "approve-order-writes", 1],
      ["SELECT id, total FROM orders WHERE id = 7", "ALLOW", "access:agents", 1],
    ]);
    expect(edges[1]?.node.approval).toEqual({ status: "GRANTED", votes: [{ voter: "dana" }] });
    expect(edges[2]?.node.events).toMatchObject([
      { type: "CommandDecided" },
      { type: "CommandCompleted", data: { output: "id|total\n7|90", rows: 1 } },
    ]);
    const page = await h.gql(
      "audrey",
      '{ auditSearch(filter: { relation: "orders" }, first: 1) { edges { node { command } } pageInfo { hasNextPage endCursor } } }',
    );
    const { pageInfo } = (
      page.data as { auditSearch: { pageInfo: { hasNextPage: boolean; endCursor: string } } }
    ).auditSearch;
    expect(pageInfo.hasNextPage).toBe(true);
    const next = await h.gql(
      "audrey",
      'query($after: String) { auditSearch(filter: { relation: "orders" }, after: $after) { edges { node { command } } } }',
      { after: pageInfo.endCursor },
    );
    expect(next.data).toEqual({
      auditSearch: { edges: [{ node: { command: "SELECT id, total FROM orders WHERE id = 7" } }] },
    });
  });

  it("gives an auditor raw events with their hash chain, and verifies the ledger", async () => {
    const result = await h.gql(
      "audrey",
      '{ events(stream: "approval-' +
        orderApproval +
        '", first: 2) { edges { node { revision type hash prevHash } } pageInfo { endCursor } } verifyLedger { ok events broken { reason } } }',
    );
    const data = result.data as {
      events: { edges: { node: { revision: string; type: string; hash: string; prevHash: string } }[] };
      verifyLedger: { ok: boolean; events: number; broken: null };
    };
    const [first, second] = data.events.edges.map((e) => e.node);
    expect(first).toMatchObject({ revision: "0", type: "ApprovalRequested", prevHash: "0".repeat(64) });
    expect(second).toMatchObject({ revision: "1", type: "ApprovalVoteCast", prevHash: first?.hash });
    const rest = await h.gql(
      "audrey",
      "query($after: String) { events(stream: $s, after: $after) { edges { node { type prevHash } } } }".replace(
        "$s",
        JSON.stringify(`approval-${orderApproval}`),
      ),
      {
        after: (result.data as { events: { pageInfo: { endCursor: string } } }).events.pageInfo.endCursor,
      },
    );
    expect(rest.data).toEqual({
      events: { edges: [{ node: { type: "ApprovalGranted", prevHash: second?.hash } }] },
    });
    expect(data.verifyLedger).toMatchObject({ ok: true, broken: null });
    expect(data.verifyLedger.events).toBeGreaterThan(10);
  });

  it("lets an agent revoke its own credential, and the answer shows it revoked", async () => {
    const revoked = await h.gql(
      "agent-42",
      `mutation { revokeCredential(credentialId: "${credentialId}", reason: "done") { status revokedBy revokeReason uses } }`,
    );
    expect(revoked.data).toEqual({
      revokeCredential: { status: "REVOKED", revokedBy: "agent-42", revokeReason: "done", uses: 1 },
    });
  });

  it("refuses requests without a valid token: UNAUTHENTICATED, HTTP 401", async () => {
    const missing = await h.gql(null, "{ viewer { subject } }");
    expect(missing.status).toBe(401);
    expect(missing.errors?.[0]?.extensions).toEqual({ code: "UNAUTHENTICATED", reason: "missing" });
    const forged = await h.post(
      { query: "{ __schema { types { name } } }" },
      `${h.tokens.audrey.slice(0, -4)}AAAA`,
    );
    expect(forged.status).toBe(401);
    expect(forged.errors?.[0]?.extensions).toEqual({ code: "UNAUTHENTICATED", reason: "bad_signature" });
    expect(forged.data).toBeUndefined();
  });
});
