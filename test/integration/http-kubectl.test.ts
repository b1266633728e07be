import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessHint } from "../../src/cli/access-hint.ts";
import type { RunningProxy } from "../../src/proxy/context.ts";
import { httpProxyConfig } from "../../src/proxy/http/config.ts";
import { startHttpProxy } from "../../src/proxy/http/server.ts";
import { generatedCertificateFile } from "../../src/proxy/http/tls.ts";
import { collect } from "../support/events.ts";
import { startTestGate, type TestGate } from "../support/gate.ts";
import { type KubeApi, pod, secret, startKubeApi } from "../support/kube-api.ts";
import { LOOPBACK } from "../support/ports.ts";

/**
 * The installed kubectl, through the gateway's HTTPS port, against a server that speaks the
 * Kubernetes API: reads allowed, deletes denied or held for approval per policy, Secrets
 * masked (get, list, watch), the kubeconfig the CLI prints used as it is.
 */

const CLUSTER_TOKEN = "cluster-admin-token-93be1c55aa";
const sre = { subject: "dana", groups: ["sre"], kind: "human" as const };
const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("kubectl through the gateway", () => {
  let kube: KubeApi;
  let legacy: KubeApi;
  let gate: TestGate;
  let proxy: RunningProxy;
  let kubeconfig: string;
  let token: string;
  let ca: string;

  beforeAll(async () => {
    process.env.KUBE_CLUSTER_TOKEN = CLUSTER_TOKEN;
    kube = await startKubeApi({ token: CLUSTER_TOKEN });
    kube.pods.set("default/web-1", pod("web-1", "default", { LOG_LEVEL: "info" }));
    kube.pods.set("default/web-2", pod("web-2"));
    kube.pods.set("staging/api-1", pod("api-1", "staging"));
    kube.secrets.set("default/db", secret("db", { password: "hunter2-prod-db", user: "app" }));
    legacy = await startKubeApi({ token: CLUSTER_TOKEN, alwaysYaml: true });
    legacy.secrets.set("default/db", secret("db", { password: "hunter2-legacy-db" }));
    gate = await startTestGate(`
targets:
  - { name: prod, protocol: kubernetes, address: "${kube.url}", credential: { env: KUBE_CLUSTER_TOKEN } }
  - { name: legacy, protocol: kubernetes, address: "${legacy.url}", credential: { env: KUBE_CLUSTER_TOKEN } }
access:
  - { name: agents, who: { groups: [agents] }, targets: ["*"], level: read-write }
rules:
  - name: no-deletes-in-default
    action: deny
    reason: "pods in default are not deleted by agents"
    match: { http: { verbs: [delete, deletecollection], resources: [pods], namespaces: [default] } }
  - name: approve-pod-deletes
    action: require_approval
    match: { http: { verbs: [delete], resources: [pods] } }
    approval: { groups: [sre], reuseWithin: 10m }
`);
    proxy = await startHttpProxy(httpProxyConfig.parse({ port: 0, holdWaitSeconds: 30 }), gate.context());
    ({ token } = await gate.credential({ target: "prod", access: "read-write" }));
    ca = readFileSync(generatedCertificateFile(gate.dataDir), "utf8");
    // The kubeconfig `sluice credential issue` prints, used as it is.
    const target = gate
      .context()
      .policy()
      ?.document.targets.find((t) => t.name === "prod");
    if (!target) throw new Error("no target");
    kubeconfig = join(gate.dataDir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      accessHint(target, LOOPBACK, "agent-1", token, { http: { port: proxy.port, tls: true, caPem: ca } }),
    );
  });
  afterAll(async () => {
    await proxy?.close();
    await kube?.stop();
    await legacy?.stop();
    await gate?.close();
  });

  const kubectl = (...args: string[]) => kubectlWith(kubeconfig, ...args);
  const kubectlWith = (config: string, ...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        "kubectl",
        args,
        { env: { PATH: process.env.PATH, HOME: gate.dataDir, KUBECONFIG: config }, timeout: 60_000 },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
  const events = async () => collect(gate.store.readAll());
  async function nextApproval(after: number): Promise<string> {
    for (let attempt = 0; attempt < 400; attempt++) {
      const requested = (await events()).filter((e) => e.type === "ApprovalRequested");
      if (requested.length > after)
        return (requested.at(-1) as { data: { approvalId: string } }).data.approvalId;
      await sleep(25);
    }
    throw new Error("no approval was requested");
  }

  it("kubectl get pods is allowed, with the gateway's cluster credential, never the agent's token", async () => {
    const { code, stdout } = await kubectl("get", "pods");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
    expect(stdout).toMatch(/web-1\s+1\/1\s+Running/);
    expect(stdout).toMatch(/web-2\s+1\/1\s+Running/);
    const list = kube.received.find((r) => r.url.startsWith("/api/v1/namespaces/default/pods"));
    expect(list?.headers.authorization).toBe(`Bearer ${CLUSTER_TOKEN}`);
    expect(kube.received.every((r) => !JSON.stringify(r.headers).includes(token))).toBe(true);
    const decided = (await events()).find(
      (e) => e.type === "CommandDecided" && e.data.command.startsWith("GET /api/v1/namespaces/default/pods"),
    );
    expect(decided?.data).toMatchObject({
      protocol: "kubernetes",
      decision: "allow",
      classification: { verb: "list", resource: "pods", namespace: "default", group: "" },
    });
  });

  it("kubectl delete pod is denied per policy with a Status kubectl prints", async () => {
    const { code, stderr } = await kubectl("delete", "pod", "web-1");
    expect(code).not.toBe(0);
    expect(stderr.trim()).toBe(
      'Error from server (Forbidden): sluice denied delete pods "web-1" in namespace default: pods in default are not deleted by agents (rule no-deletes-in-default)',
    );
    expect(kube.pods.has("default/web-1")).toBe(true);
    expect(kube.received.some((r) => r.method === "DELETE")).toBe(false);
  });

  it("kubectl delete pod in another namespace is held, and runs once an approver grants it", async () => {
    const before = (await events()).filter((e) => e.type === "ApprovalRequested").length;
    const deleting = kubectl("delete", "pod", "api-1", "-n", "staging", "--wait=false");
    const approvalId = await nextApproval(before);
    expect(kube.pods.has("staging/api-1")).toBe(true);
    await gate.approvals.vote(approvalId, sre, "approve");
    const { code, stdout } = await deleting;
    expect(code).toBe(0);
    expect(stdout.trim()).toBe('pod "api-1" deleted');
    expect(kube.pods.has("staging/api-1")).toBe(false);
  });

  it("a hold past the wait is answered with the approval id, which kubectl prints as an error", async () => {
    const quick = await startHttpProxy(
      httpProxyConfig.parse({ port: 0, holdWaitSeconds: 0.2 }),
      gate.context(),
    );
    kube.pods.set("staging/api-2", pod("api-2", "staging"));
    try {
      const config = join(gate.dataDir, "kubeconfig-quick");
      writeFileSync(config, readFileSync(kubeconfig, "utf8").replace(`:${proxy.port}/`, `:${quick.port}/`));
      const run = () =>
        new Promise<{ code: number; stderr: string; stdout: string }>((resolve) =>
          execFile(
            "kubectl",
            ["delete", "pod", "api-2", "-n", "staging", "--wait=false"],
            { env: { PATH: process.env.PATH, HOME: gate.dataDir, KUBECONFIG: config } },
            (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
          ),
        );
      const first = await run();
      expect(first.code).toBe(1);
      const found =
        /Error from server \(PendingApproval\): held for approval ([0-9a-f-]{36}) \(rule approve-pod-deletes\)/.exec(
          first.stderr,
        );
      expect(found).not.toBeNull();
      expect(kube.pods.has("staging/api-2")).toBe(true);
      await gate.approvals.vote(found?.[1] as string, sre, "approve");
      await sleep(200);
      const retry = await run();
      expect(retry.stdout.trim()).toBe('pod "api-2" deleted');
      expect(kube.pods.has("staging/api-2")).toBe(false);
    } finally {
      await quick.close();
    }
  });

  it("kubectl get secret -o yaml shows masked values, and the log keeps none", async () => {
    const { code, stdout } = await kubectl("get", "secret", "db", "-o", "yaml");
    expect(code).toBe(0);
    expect(stdout).toContain(`password: ${b64("«redacted»")}`);
    expect(stdout).toContain(`user: ${b64("«redacted»")}`);
    expect(stdout).toContain("kubectl.kubernetes.io/last-applied-configuration: «redacted»");
    for (const value of [b64("hunter2-prod-db"), "hunter2-prod-db"]) expect(stdout).not.toContain(value);
    const decoded = await kubectl("get", "secret", "db", "-o", "jsonpath={.data.password}");
    expect(Buffer.from(decoded.stdout, "base64").toString("utf8")).toBe("«redacted»");
    const listed = await kubectl("get", "secrets", "-o", "json");
    expect(JSON.parse(listed.stdout).items[0].data.password).toBe(b64("«redacted»"));
    const table = await kubectl("get", "secrets");
    expect(table.stdout).toMatch(/db\s+Opaque\s+2\s+5m/);
    await sleep(100);
    const log = JSON.stringify((await events()).map((e) => e.data));
    expect(log).not.toContain(b64("hunter2-prod-db"));
    expect(log).not.toContain(token);
    expect(log).not.toContain(CLUSTER_TOKEN);
  });

  it("asks the cluster for JSON whatever the agent accepts, and refuses a Secret it cannot mask", async () => {
    const get = (target: string, bearer: string) =>
      new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
        const req = httpsRequest(
          `https://${LOOPBACK}:${proxy.port}/${target}/api/v1/namespaces/default/secrets/db`,
          { ca, headers: { authorization: `Bearer ${bearer}`, accept: "application/yaml" } },
          (res) => {
            let body = "";
            res.on("data", (chunk: Buffer) => {
              body += chunk.toString();
            });
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }),
            );
          },
        );
        req.once("error", reject);
        req.end();
      });
    const json = await get("prod", token);
    expect(json).toMatchObject({ status: 200, type: "application/json" });
    expect(JSON.parse(json.body).data.password).toBe(b64("«redacted»"));
    expect(kube.received.at(-1)?.headers.accept).toBe("application/json");

    const { token: legacyToken } = await gate.credential({ target: "legacy", access: "read-only" });
    const refused = await get("legacy", legacyToken);
    expect(refused.status).toBe(502);
    expect(JSON.parse(refused.body)).toMatchObject({ kind: "Status", reason: "ServiceUnavailable" });
    expect(refused.body).toContain("cannot be masked as policy requires");
    expect(refused.body).not.toContain(b64("hunter2-legacy-db"));
  });

  it("masks Secrets in a watch stream event by event", async () => {
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpsRequest(
        `https://${LOOPBACK}:${proxy.port}/prod/api/v1/namespaces/default/secrets?watch=true`,
        { ca, headers: { authorization: `Bearer ${token}` } },
        resolve,
      );
      req.once("error", reject);
      req.end();
    });
    expect(response.statusCode).toBe(200);
    const lines: string[] = [];
    let buffered = "";
    response.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? "";
      lines.push(...parts);
    });
    const until = async (n: number) => {
      for (let i = 0; i < 200 && lines.length < n; i++) await sleep(25);
      expect(lines.length).toBeGreaterThanOrEqual(n);
    };
    await until(1);
    for (let i = 0; i < 200 && kube.watchers() === 0; i++) await sleep(10);
    kube.emit("secrets", "MODIFIED", secret("db", { password: "rotated-secret-value" }));
    await until(2);
    response.destroy();
    const events = lines.map((line) => JSON.parse(line));
    expect(events.map((e) => e.type)).toEqual(["ADDED", "MODIFIED"]);
    expect(events[1].object.data.password).toBe(b64("«redacted»"));
    expect(lines.join("\n")).not.toContain(b64("rotated-secret-value"));
  });

  it("kubectl exec (an upgrade) is refused when policy does not allow it, and recorded", async () => {
    const { code, stderr } = await kubectl("exec", "web-1", "--", "cat", "/etc/hostname");
    expect(code).not.toBe(0);
    expect(stderr).toContain('sluice denied exec pods "web-1" in namespace default: needs admin access');
    expect(kube.received.some((r) => r.url.includes("/exec"))).toBe(false);
    const decided = (await events()).filter(
      (e) => e.type === "CommandDecided" && e.data.command.includes("/pods/web-1/exec"),
    );
    expect(decided.length).toBeGreaterThan(0);
    expect(decided[0]?.data).toMatchObject({
      decision: "deny",
      classification: { verb: "exec", subresource: "exec", name: "web-1" },
    });
  });

  it("kubectl get pods -w ends, printing why, when its credential is revoked", async () => {
    const agent = await gate.credential({ target: "prod", access: "read-only" });
    const config = join(gate.dataDir, "kubeconfig-revoked");
    writeFileSync(config, readFileSync(kubeconfig, "utf8").replace(token, agent.token));
    const watchers = kube.watchers();
    const watching = kubectlWith(config, "get", "pods", "-w");
    for (let i = 0; i < 400 && kube.watchers() === watchers; i++) await sleep(25);
    expect(kube.watchers()).toBe(watchers + 1);
    await gate.credentials.revoke(agent.credentialId, sre, "task finished early");
    // kubectl prints the final ERROR event's Status and exits (with 0, as whenever a server ends a watch).
    const { stdout } = await watching;
    expect(stdout).toMatch(/web-1\s+1\/1\s+Running/);
    expect(stdout).toMatch(
      new RegExp(`\\nFailure\\s+Unauthorized\\s+sluice: credential ${agent.credentialId} was revoked\\n$`),
    );
    expect(kube.watchers()).toBe(watchers);
    const after = await kubectlWith(config, "get", "pods");
    expect(after.code).not.toBe(0);
    expect(after.stderr).toContain(`sluice: credential ${agent.credentialId} was revoked`);
  });

  it("kubectl logs are masked as text", async () => {
    const { code, stdout } = await kubectl("logs", "web-1");
    expect(code).toBe(0);
    expect(stdout).toContain("connecting to postgres://app:«redacted:url_password»@db.internal:5432/app");
    expect(stdout).not.toContain("hunter2");
  });
});
