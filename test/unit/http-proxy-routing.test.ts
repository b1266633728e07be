import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { recordedHeaders } from "../../src/proxy/http/recording.ts";
import { ambiguousPath, routeRequest } from "../../src/proxy/http/routing.ts";
import { LiteralScrubber } from "../../src/proxy/http/scrub.ts";
import { downstreamHeaders, type Upstream, upstreamHeaders } from "../../src/proxy/http/upstream.ts";
import { policyFrom } from "../support/policy.ts";

const policy = policyFrom(`
targets:
  - { name: orders, protocol: http, address: "http://10.0.0.5:8080/base", hostnames: [orders.internal, "API.Example.com"] }
  - { name: prod-cluster, protocol: kubernetes, address: "https://10.0.0.9:6443", pathPrefix: prod }
  - { name: db, protocol: postgres, address: "10.0.0.7:5432" }
`);

describe("routing a request to its target", () => {
  it("routes by Host header first, keeping the path", () => {
    expect(routeRequest(policy, "orders.internal:18080", "/v1/orders?x=1")).toMatchObject({
      target: { name: "orders" },
      path: "/v1/orders?x=1",
    });
    expect(routeRequest(policy, "api.example.com.", "/")?.target.name).toBe("orders");
  });

  it("routes by the first path segment (pathPrefix or name) and strips it", () => {
    expect(routeRequest(policy, "127.0.0.1:18080", "/prod/api/v1/pods")).toMatchObject({
      target: { name: "prod-cluster" },
      path: "/api/v1/pods",
    });
    expect(routeRequest(policy, "localhost", "/orders")?.path).toBe("/");
    expect(routeRequest(policy, "localhost", "/orders?limit=5")?.path).toBe("/?limit=5");
    // The name of a target with another pathPrefix, a non-HTTP target, an unknown one: no route.
    expect(routeRequest(policy, "localhost", "/prod-cluster/api")).toBeNull();
    expect(routeRequest(policy, "localhost", "/db/x")).toBeNull();
    expect(routeRequest(policy, "localhost", "/nope/x")).toBeNull();
    expect(routeRequest(null, "localhost", "/orders/x")).toBeNull();
  });

  it("refuses paths an upstream could resolve differently from the classifier", () => {
    expect(ambiguousPath("/api/v1/namespaces/prod/pods?watch=1")).toBeNull();
    expect(ambiguousPath("/v1/orders/")).toBeNull();
    expect(ambiguousPath("/api/v1/namespaces/prod/pods/..%2Fsecrets")).toMatch(/encoded slash/);
    expect(ambiguousPath("/api/v1/namespaces/prod/pods/%2e%2e/secrets")).toMatch(/dot segment/);
    expect(ambiguousPath("/api/./v1")).toMatch(/dot segment/);
    expect(ambiguousPath("/api//v1")).toMatch(/empty segment/);
    expect(ambiguousPath("/a%5cb")).toMatch(/backslash/);
    expect(ambiguousPath("/a%zz")).toMatch(/percent/);
  });
});

const upstream: Upstream = {
  base: new URL("https://10.0.0.9:6443/base"),
  basePath: "/base",
  agent: undefined as never,
  request: undefined as never,
  authorization: "Bearer upstream-secret-token",
  secrets: [Buffer.from("upstream-secret-token")],
};

describe("headers", () => {
  it("sends the gateway's credential upstream instead of the agent's, and asks for maskable bodies", () => {
    const headers = upstreamHeaders(
      {
        authorization: "Bearer agent-token",
        "proxy-authorization": "Basic x",
        connection: "keep-alive, x-private",
        "x-private": "hop",
        "keep-alive": "timeout=5",
        host: "127.0.0.1:18080",
        accept: "application/vnd.kubernetes.protobuf, application/yaml,application/json",
        "accept-encoding": "gzip",
        "x-request-id": "r1",
        upgrade: "websocket",
      },
      upstream,
      { kubernetes: true, upgrade: false },
    );
    expect(headers).toEqual({
      host: "10.0.0.9:6443",
      authorization: "Bearer upstream-secret-token",
      accept: "application/json",
      "accept-encoding": "identity",
      "x-request-id": "r1",
    });
  });

  it("never hands the upstream credential back in response headers", () => {
    const headers = downstreamHeaders(
      {
        "x-echo": "got Bearer upstream-secret-token",
        "transfer-encoding": "chunked",
        "content-type": "text/plain",
      },
      upstream,
    );
    expect(headers).toEqual({
      "x-echo": "got Bearer «redacted:upstream_credential»",
      "content-type": "text/plain",
    });
  });

  it("records headers without credentials or cookies", () => {
    expect(
      recordedHeaders({
        authorization: "Bearer t",
        cookie: "a=b",
        "set-cookie": ["a=b"],
        "x-api-key": "k",
        "x-auth-token": "t",
        "content-type": "application/json",
        "user-agent": "kubectl/v1.32",
      }),
    ).toEqual({ "content-type": "application/json", "user-agent": "kubectl/v1.32" });
  });
});

describe("the credential scrubber", () => {
  const scrub = async (chunks: string[]) => {
    const scrubber = new LiteralScrubber([Buffer.from("SECRET-TOKEN-123"), Buffer.from("pw")]);
    const out: Buffer[] = [];
    await pipeline(
      Readable.from(chunks.map((c) => Buffer.from(c))),
      scrubber,
      new Writable({
        write(chunk, _e, done) {
          out.push(chunk);
          done();
        },
      }),
    );
    return { text: Buffer.concat(out).toString(), count: scrubber.count };
  };

  it("replaces the literal wherever chunk boundaries fall", async () => {
    const text = "a SECRET-TOKEN-123 b pw c SECRET-TOKEN-12 d";
    const whole = await scrub([text]);
    expect(whole).toEqual({
      text: "a «redacted:upstream_credential» b «redacted:upstream_credential» c SECRET-TOKEN-12 d",
      count: 2,
    });
    for (let cut = 1; cut < text.length; cut++) {
      expect((await scrub([text.slice(0, cut), text.slice(cut)])).text, `cut at ${cut}`).toBe(whole.text);
    }
    expect((await scrub([...text])).text).toBe(whole.text);
  });
});
