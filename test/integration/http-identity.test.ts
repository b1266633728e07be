import { writeFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { generate } from "selfsigned";
import { describe, expect, it } from "vitest";
import { OidcVerifier } from "../../src/identity/oidc.ts";
import { httpProxyConfig } from "../../src/proxy/http/config.ts";
import { startHttpProxy } from "../../src/proxy/http/server.ts";
import { collect } from "../support/events.ts";
import { startTestGate } from "../support/gate.ts";
import { policy, startUpstream, UPSTREAM_TOKEN } from "../support/http-harness.ts";
import { startOidcProvider } from "../support/oidc-provider.ts";
import { LOOPBACK } from "../support/ports.ts";

/**
 * Who is who through the HTTP port: agents with OIDC tokens from a real provider (a session per
 * token, groups deciding access), and the gateway towards an upstream behind TLS that wants a
 * client certificate and basic auth.
 */

describe("agents with OIDC tokens", () => {
  it("authenticates an OIDC bearer token and keeps a session per token", async () => {
    const provider = await startOidcProvider({ clientIds: ["agent-42", "agent-43"] });
    process.env.ORDERS_UPSTREAM_TOKEN = UPSTREAM_TOKEN;
    const upstream = await startUpstream();
    const verifier = await OidcVerifier.discover({ issuer: provider.issuer, audience: provider.audience });
    const gate = await startTestGate(policy(upstream.url), { oidc: verifier });
    const proxy = await startHttpProxy(
      httpProxyConfig.parse({ port: 0, tls: { mode: "disabled" } }),
      gate.context(),
    );
    try {
      const first = await provider.mintToken({ clientId: "agent-42", claims: { groups: ["agents"] } });
      const second = await provider.mintToken({ clientId: "agent-43", claims: { groups: ["agents"] } });
      const url = `http://${LOOPBACK}:${proxy.port}/orders/v1/anything`;
      for (const bearer of [first, first, second]) {
        const response = await fetch(url, { headers: { authorization: `Bearer ${bearer}` } });
        expect(response.status).toBe(200);
      }
      const started = (await collect(gate.store.readAll())).filter((e) => e.type === "SessionStarted");
      expect(started.map((e) => (e.data as { identity: { subject: string } }).identity.subject)).toEqual([
        "agent-42",
        "agent-43",
      ]);
      const outsider = await provider.mintToken({ clientId: "agent-42", claims: { groups: ["interns"] } });
      const refused = await fetch(url, { headers: { authorization: `Bearer ${outsider}` } });
      expect(refused.status).toBe(403);
    } finally {
      await proxy.close();
      await upstream.stop();
      await gate.close();
      await provider.stop();
    }
  });
});

describe("an upstream behind TLS with a client certificate and basic auth", () => {
  it("trusts the target's CA, presents the client certificate and the basic credential", async () => {
    const host = [{ type: 7 as const, ip: "127.0.0.1" }];
    type Extensions = NonNullable<NonNullable<Parameters<typeof generate>[1]>["extensions"]>;
    const extensions = (altNames: { type: 7; ip: string }[]): Extensions => [
      { name: "basicConstraints", cA: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: "subjectAltName", altNames },
    ];
    const server = await generate([{ name: "commonName", value: "orders-upstream" }], {
      keyType: "ec",
      extensions: extensions(host),
    });
    const client = await generate([{ name: "commonName", value: "sluice-gateway" }], {
      keyType: "ec",
      extensions: extensions([]),
    });
    const gate = await startTestGate("targets: []");
    const files = (name: string, pem: string) => {
      const file = join(gate.dataDir, name);
      writeFileSync(file, pem);
      return file;
    };
    process.env.SECURE_UPSTREAM_PASSWORD = "basic-pass-5a1d";
    const seen: { cn?: string; authorization?: string }[] = [];
    const upstream = createHttpsServer(
      {
        cert: server.cert,
        key: server.private,
        ca: client.cert,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        seen.push({
          cn: String((req.socket as TLSSocket).getPeerCertificate().subject?.CN),
          authorization: req.headers.authorization,
        });
        res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
      },
    );
    await new Promise<void>((resolve) => upstream.listen(0, LOOPBACK, resolve));
    const port = (upstream.address() as { port: number }).port;
    gate.setPolicy(`
targets:
  - name: secure
    protocol: http
    address: "https://127.0.0.1:${port}"
    auth: basic
    user: sluice
    credential: { env: SECURE_UPSTREAM_PASSWORD }
    ca: { file: ${files("ca.pem", server.cert)} }
    clientCert: { cert: { file: ${files("client.pem", client.cert)} }, key: { file: ${files("client.key", client.private)} } }
access: [{ name: agents, who: { groups: [agents] }, targets: ["*"], level: read-only }]
`);
    const proxy = await startHttpProxy(
      httpProxyConfig.parse({ port: 0, tls: { mode: "disabled" } }),
      gate.context(),
    );
    try {
      const { token } = await gate.credential({ target: "secure" });
      const response = await fetch(`http://${LOOPBACK}:${proxy.port}/secure/status`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ ok: true });
      expect(seen).toEqual([
        {
          cn: "sluice-gateway",
          authorization: `Basic ${Buffer.from("sluice:basic-pass-5a1d").toString("base64")}`,
        },
      ]);
    } finally {
      await proxy.close();
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
      await gate.close();
    }
  });
});
