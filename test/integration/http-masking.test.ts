import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { curl, type Harness, startHarness, type Upstream } from "../support/http-harness.ts";

/**
 * Masking through the HTTP port: JSON fields by path and content detectors (for the agent and
 * in the log), secrets in text bodies, a large JSON body value by value, and tokens in query
 * strings kept out of the log while the upstream gets the request as sent.
 */

describe("masking through the HTTP port", () => {
  let h: Harness;
  let upstream: Upstream;
  let base: string;
  let token: string;
  beforeAll(async () => {
    h = await startHarness();
    ({ upstream, base, token } = h);
  });
  afterAll(async () => {
    await h?.close();
  });
  const get: Harness["get"] = (...args) => h.get(...args);
  const events = () => h.events();
  const recorded = (command: string) => h.recorded(command);

  it("masks JSON fields by path and by content detectors, for the agent and in the log", async () => {
    const response = await get("/orders/v1/orders/7");
    expect(response.status).toBe(200);
    const order = await response.json();
    expect(order).toEqual({
      id: 7,
      status: "paid",
      customer: { name: "Bob", email: "«redacted:email»", ssn: "«redacted»" },
      card: "***************1111",
      internalNotes: { risk: null, reviewer: null },
    });
    const { completed } = await recorded("GET /v1/orders/7");
    expect(completed.masked).toEqual(
      expect.arrayContaining([
        { field: "$.customer.ssn", rule: "orders-pii/$.customer.ssn", count: 1 },
        { field: "$.internalNotes", rule: "orders-pii/$.internalNotes", count: 2 },
        { field: "body", rule: "orders-pii/email", count: 1 },
      ]),
    );
    const output = completed.output as string;
    for (const value of ["bob@example.com", "123-45-6789", "4111 1111 1111 1111", "sid=abc"])
      expect(output).not.toContain(value);
  });

  it("masks secrets in a text body (curl)", async () => {
    const out = await curl(["-sS", "-H", `Authorization: Bearer ${token}`, `${base}/orders/v1/config`]);
    expect(out).toContain("region=eu-west-1");
    for (const secret of ["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "s3cr3t-pass"])
      expect(out).not.toContain(secret);
    expect(out).toContain("«redacted:aws_access_key_id»");
  });

  it("masks a large JSON body value by value as it streams", async () => {
    const response = await get("/orders/v1/big-json");
    const body = (await response.json()) as { items: { id: number; email: string }[] };
    expect(body.items).toHaveLength(4000);
    expect(body.items[3999]).toMatchObject({ id: 3999, email: "«redacted:email»" });
  });

  it("records a query string with its tokens and passwords masked, and forwards it as sent", async () => {
    const jwt =
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    const query = `?access_token=${jwt}&password=hunter2&limit=5`;
    expect((await get(`/orders/v1/search${query}`)).status).toBe(200);
    expect(upstream.received.at(-1)?.url).toBe(`/v1/search${query}`);
    const all = await events();
    const decided = all.filter((e) => e.type === "CommandDecided").at(-1)?.data as unknown as {
      command: string;
      classification: { query: Record<string, string> };
    };
    expect(decided.command).toBe(
      "GET /v1/search?access_token=«redacted:jwt»&password=«redacted:url_password»&limit=5",
    );
    expect(decided.classification.query).toEqual({
      access_token: "«redacted:jwt»",
      password: "«redacted:url_password»",
      limit: "5",
    });
    expect(JSON.stringify(all.map((e) => e.data))).not.toContain("hunter2");
  });
});
