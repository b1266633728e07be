import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClassifiedCommand } from "../../src/domain/policy/command.ts";
import { classifySql, initSqlClassifier } from "../../src/gate/classify/sql.ts";
import type { Session } from "../../src/gate/gate.ts";
import { type GraphqlHarness, POLICY, startGraphqlHarness } from "../support/graphql-harness.ts";

const sql = (text: string): ClassifiedCommand => ({ protocol: "postgres", text, sql: classifySql(text) });

/** A GraphQL-over-SSE subscription read event by event (`event: next` / `event: complete`). */
async function subscribe(url: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const controller = new AbortController();
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "text/event-stream",
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query, variables }),
    signal: controller.signal,
  });
  expect(response.headers.get("content-type")).toContain("text/event-stream");
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  return {
    /** The next `next` payload or "complete", failing after `timeoutMs`. */
    async next(timeoutMs: number): Promise<Record<string, unknown> | "complete"> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end !== -1) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (message.startsWith("event: complete")) return "complete";
          const data = /^data: (.*)$/m.exec(message)?.[1];
          if (message.startsWith("event: next") && data) return JSON.parse(data);
          continue; // keep-alive comment
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`nothing arrived within ${timeoutMs} ms`);
        const chunk = await Promise.race([
          reader.read(),
          new Promise<"late">((resolve) => setTimeout(() => resolve("late"), left)),
        ]);
        if (chunk === "late") throw new Error(`nothing arrived within ${timeoutMs} ms`);
        if (chunk.done) return "complete";
        buffer += decoder.decode(chunk.value, { stream: true });
      }
    },
    close: () => controller.abort(),
  };
}

describe("GraphQL subscriptions over SSE", () => {
  let h: GraphqlHarness;
  let session: Session;

  beforeAll(async () => {
    await initSqlClassifier();
    h = await startGraphqlHarness();
    await h.gql("adam", "mutation($f: [PolicyFileInput!]!) { publishPolicy(files: $f) { version } }", {
      f: [{ name: "policy.yaml", yaml: POLICY }],
    });
    await h.gql("agent-42", 'mutation { declareTask(input: { id: "t1", intent: "orders" }) { id } }');
    const issued = await h.gql(
      "agent-42",
      'mutation { issueCredential(input: { target: "orders-db", access: "read-write", taskId: "t1" }) { token } }',
    );
    const { token } = (issued.data as { issueCredential: { token: string } }).issueCredential;
    const { gate } = h.gateway;
    session = await gate.openSession({
      principal: await gate.authenticate(token),
      target: "orders-db",
      protocol: "postgres",
      client: { address: "127.0.0.1:5000" },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("brings a new ApprovalRequested to a subscribed approver within 1 s, and only approvals for its groups", async () => {
    const feed = await subscribe(
      `${h.gateway.apiUrl}/graphql`,
      h.tokens.dana,
      "subscription { approvalQueue { change approval { id command status approverGroups } } }",
    );
    // First a request for another group (leads), then one dana may vote on (dba).
    const other = await h.gateway.gate.decide(session, sql("DELETE FROM refunds WHERE id = 1"));
    const held = await h.gateway.gate.decide(session, sql("UPDATE orders SET total = 0 WHERE id = 7"));
    if (other.kind !== "hold" || held.kind !== "hold") throw new Error("expected both to be held");
    const requested = await feed.next(1000);
    expect(requested).toEqual({
      data: {
        approvalQueue: {
          change: "REQUESTED",
          approval: {
            id: held.approvalId,
            command: "UPDATE orders SET total = 0 WHERE id = 7",
            status: "PENDING",
            approverGroups: ["dba"],
          },
        },
      },
    });
    await h.gql(
      "dana",
      `mutation { deny(approvalId: "${held.approvalId}", reason: "not today") { status } }`,
    );
    expect(await feed.next(1000)).toMatchObject({ data: { approvalQueue: { change: "VOTED" } } });
    expect(await feed.next(1000)).toMatchObject({
      data: { approvalQueue: { change: "DENIED", approval: { id: held.approvalId, status: "DENIED" } } },
    });
    expect(await held.wait()).toMatchObject({ kind: "deny", reason: "approval denied: not today" });
    feed.close();
  });

  it("streams a session's events to an auditor as they are recorded", async () => {
    const feed = await subscribe(
      `${h.gateway.apiUrl}/graphql`,
      h.tokens.audrey,
      "subscription($id: ID!) { sessionEvents(sessionId: $id) { type commandId data } }",
      { id: session.sessionId },
    );
    const verdict = await h.gateway.gate.decide(session, sql("SELECT 1"));
    await h.gateway.gate.complete(session, verdict.commandId, {
      status: "ok",
      durationMs: 1,
      rows: 1,
      masked: [],
      output: "?column?\n1",
    });
    expect(await feed.next(1000)).toMatchObject({
      data: {
        sessionEvents: {
          type: "CommandDecided",
          commandId: verdict.commandId,
          data: { command: "SELECT 1" },
        },
      },
    });
    expect(await feed.next(1000)).toMatchObject({
      data: { sessionEvents: { type: "CommandCompleted", data: { output: "?column?\n1" } } },
    });
    feed.close();
  });

  it("refuses a subscription to a role without access, and ends one when its token expires", async () => {
    const refused = await subscribe(
      `${h.gateway.apiUrl}/graphql`,
      h.tokens["agent-42"],
      "subscription { approvalQueue { change } }",
    );
    expect(await refused.next(1000)).toMatchObject({ errors: [{ extensions: { code: "FORBIDDEN" } }] });
    refused.close();

    const shortLived = await h.provider.mintToken({
      clientId: "audrey",
      claims: { groups: ["auditors"] },
      ttlSeconds: 2,
    });
    const feed = await subscribe(
      `${h.gateway.apiUrl}/graphql`,
      shortLived,
      "subscription { approvalQueue { change } }",
    );
    expect(await feed.next(5000)).toBe("complete");
  });

  it("ends open subscriptions when the gateway stops, so shutdown does not wait on them", async () => {
    const feed = await subscribe(
      `${h.gateway.apiUrl}/graphql`,
      h.tokens.audrey,
      "subscription { approvalQueue { change } }",
    );
    await h.gateway.stop();
    expect(await feed.next(1000)).toBe("complete");
  });
});
