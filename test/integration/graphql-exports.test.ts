import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/events.ts";
import { type GraphqlHarness, outcome, startGraphqlHarness } from "../support/graphql-harness.ts";

const EXPORT_FIELDS = "id status format events manifestSha256 files { name sha256 url } error";

/** Exports through the API: asked for by an auditor, run as a job, downloaded with the same token. */
describe("GraphQL requestExport", () => {
  let h: GraphqlHarness;
  beforeAll(async () => {
    h = await startGraphqlHarness();
    await h.gql("agent-42", 'mutation { declareTask(input: { intent: "reconcile orders" }) { id } }');
  });
  afterAll(async () => h?.close());

  it("runs an export as a job whose files download intact; other roles are refused", async () => {
    expect(
      outcome(await h.gql("agent-42", "mutation { requestExport(input: { format: JSONL }) { id } }")),
    ).toBe("FORBIDDEN");
    const requested = await h.gql(
      "audrey",
      `mutation { requestExport(input: { format: CSV }) { ${EXPORT_FIELDS} } }`,
    );
    expect(outcome(requested)).toBe("OK");
    const job = (requested.data as { requestExport: { id: string; status: string } }).requestExport;
    expect(job.status).toBe("QUEUED");
    let done:
      | { status: string; events: number; files: { name: string; sha256: string; url: string }[] }
      | undefined;
    await until(async () => {
      const polled = await h.gql("audrey", `{ export(id: "${job.id}") { ${EXPORT_FIELDS} } }`);
      done = (polled.data as { export: typeof done }).export;
      return done?.status === "DONE";
    }, 20_000);
    expect(done?.events).toBeGreaterThan(0);
    const names = done?.files.map((f) => f.name) ?? [];
    expect(names).toEqual(expect.arrayContaining(["commands.csv", "manifest.json"]));
    for (const file of done?.files ?? []) {
      const response = await fetch(`${h.gateway.apiUrl}${file.url}`, {
        headers: { authorization: `Bearer ${h.tokens.audrey}` },
      });
      expect(response.status).toBe(200);
      const body = Buffer.from(await response.arrayBuffer());
      expect(createHash("sha256").update(body).digest("hex")).toBe(file.sha256);
    }
    const refused = await fetch(`${h.gateway.apiUrl}${done?.files[0]?.url}`, {
      headers: { authorization: `Bearer ${h.tokens["agent-42"]}` },
    });
    expect(refused.status).toBe(403);
    const anonymous = await fetch(`${h.gateway.apiUrl}${done?.files[0]?.url}`);
    expect(anonymous.status).toBe(401);
  });
});
