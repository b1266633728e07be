import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { accessHint } from "../../src/cli/access-hint.ts";
import { policyFrom } from "../support/policy.ts";

const { targets } = policyFrom(`
targets:
  - { name: orders-api, protocol: http, address: "http://10.0.0.5:8080", pathPrefix: orders }
  - { name: prod-cluster, protocol: kubernetes, address: "https://10.0.0.9:6443" }
`).document;
const [orders, cluster] = targets as [(typeof targets)[number], (typeof targets)[number]];

describe("what `sluice credential issue` prints for HTTP and Kubernetes targets", () => {
  it("gives a curl line over the port's TLS, under the target's path prefix", () => {
    expect(
      accessHint(orders, "gw.example.com", "agent-1", "TOKEN", {
        http: { port: 18443, caFile: "/etc/sluice/http.crt" },
      }),
    ).toBe(
      'curl --cacert /etc/sluice/http.crt -H "Authorization: Bearer TOKEN" https://gw.example.com:18443/orders/',
    );
    expect(accessHint(orders, "127.0.0.1", "agent-1", "TOKEN", { http: { tls: false } })).toBe(
      'curl -H "Authorization: Bearer TOKEN" http://127.0.0.1:18080/orders/',
    );
  });

  it("gives a kubeconfig that trusts the port's certificate and carries the token", () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const config = parse(accessHint(cluster, "gw.example.com", "agent-1", "TOKEN", { http: { caPem: pem } }));
    expect(config).toMatchObject({
      kind: "Config",
      "current-context": "prod-cluster",
      clusters: [
        {
          name: "prod-cluster",
          cluster: {
            server: "https://gw.example.com:18080/prod-cluster",
            "certificate-authority-data": Buffer.from(pem).toString("base64"),
          },
        },
      ],
      users: [{ name: "agent-1", user: { token: "TOKEN" } }],
      contexts: [{ name: "prod-cluster", context: { cluster: "prod-cluster", user: "agent-1" } }],
    });
  });
});
