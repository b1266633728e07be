import { describe, expect, it } from "vitest";
import { classifyHttp } from "../../src/gate/classify/http.ts";

const kube = (method: string, url: string) => classifyHttp(method, url, { kubernetes: true });

describe("classifyHttp", () => {
  it("keeps method, normalised path and query for plain HTTP", () => {
    expect(classifyHttp("post", "/v1/orders/../admin/%75sers?limit=5&x=1", { kubernetes: false })).toEqual({
      method: "POST",
      path: "/v1/admin/users",
      query: { limit: "5", x: "1" },
    });
  });

  /** Given a Kubernetes API request, then verb, group, resource, subresource, namespace, name. */
  const table: [string, string, Record<string, string | undefined>][] = [
    ["GET", "/api/v1/namespaces/prod/pods", { verb: "list", group: "", resource: "pods", namespace: "prod" }],
    [
      "GET",
      "/api/v1/namespaces/prod/pods/web-1",
      { verb: "get", resource: "pods", name: "web-1", namespace: "prod" },
    ],
    ["GET", "/api/v1/namespaces/prod/pods?watch=true", { verb: "watch", resource: "pods" }],
    ["GET", "/api/v1/watch/namespaces/prod/pods", { verb: "watch", resource: "pods", namespace: "prod" }],
    ["GET", "/api/v1/pods", { verb: "list", resource: "pods", namespace: undefined }],
    ["DELETE", "/api/v1/namespaces/prod/pods/web-1", { verb: "delete", name: "web-1" }],
    ["DELETE", "/api/v1/namespaces/prod/pods", { verb: "deletecollection", resource: "pods" }],
    [
      "POST",
      "/api/v1/namespaces/prod/pods/web-1/exec?command=sh",
      { verb: "exec", subresource: "exec", name: "web-1" },
    ],
    ["GET", "/api/v1/namespaces/prod/pods/web-1/attach", { verb: "attach", subresource: "attach" }],
    [
      "POST",
      "/api/v1/namespaces/prod/pods/web-1/portforward",
      { verb: "portforward", subresource: "portforward" },
    ],
    ["GET", "/api/v1/namespaces/prod/pods/web-1/log", { verb: "get", subresource: "log" }],
    ["GET", "/api/v1/namespaces/prod/secrets/db", { verb: "get", resource: "secrets", name: "db" }],
    ["PUT", "/api/v1/namespaces/prod/secrets/db", { verb: "update", resource: "secrets" }],
    [
      "PATCH",
      "/apis/apps/v1/namespaces/prod/deployments/web",
      { verb: "patch", group: "apps", resource: "deployments" },
    ],
    ["POST", "/apis/batch/v1/namespaces/prod/jobs", { verb: "create", group: "batch", resource: "jobs" }],
    [
      "GET",
      "/api/v1/namespaces/prod",
      { verb: "get", resource: "namespaces", name: "prod", namespace: undefined },
    ],
    [
      "PUT",
      "/api/v1/namespaces/prod/finalize",
      { verb: "update", resource: "namespaces", name: "prod", subresource: "finalize" },
    ],
    ["GET", "/api/v1/namespaces/prod/pods/../secrets", { verb: "list", resource: "secrets" }],
    ["GET", "/version", { verb: "get", resource: undefined }],
  ];

  it.each(table)("%s %s", (method, url, expected) => {
    const facts = kube(method, url);
    for (const [key, value] of Object.entries(expected))
      expect(facts[key as keyof typeof facts]).toEqual(value);
  });
});
