import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { startGateway } from "../app.ts";
import { loadConfig } from "../config/load.ts";
import { startDemoIssuer } from "../demo/issuer.ts";
import { demoPolicy } from "../demo/policy.ts";
import { startDemoTarget } from "../demo/target.ts";
import { applyPolicy } from "../gate/policy-versions.ts";

/**
 * `sluice demo`: the whole gateway on embedded parts — SQLite log, in-process jobs, a PGlite
 * target with sample personal data and secrets, a demo OIDC issuer — with a policy that masks,
 * denies and holds, a sub-task credential for a demo agent, and the exact commands to try.
 */
export async function demoCommand(options: { dataDir?: string; port?: string }): Promise<void> {
  const dataDir = options.dataDir ? resolve(options.dataDir) : mkdtempSync(join(tmpdir(), "sluice-demo-"));
  mkdirSync(dataDir, { recursive: true });
  const [target, issuer] = await Promise.all([startDemoTarget(), startDemoIssuer()]);
  process.env.SLUICE_DEMO_SHOP_URL = target.url;
  const configFile = join(dataDir, "sluice.yaml");
  const pgPort = Number(options.port ?? 15432);
  writeFileSync(
    configFile,
    stringify({
      dataDir,
      instanceId: "sluice-demo",
      log: { level: "warn" },
      identity: { oidc: { issuer: issuer.url, audience: issuer.audience } },
      ledger: { sealIntervalSeconds: 10 },
      proxies: { postgres: { port: pgPort } },
    }),
  );
  const config = loadConfig({ file: configFile });
  const gateway = await startGateway(config);
  const applied = await applyPolicy(
    gateway.store,
    [{ file: "demo-policy.yaml", text: demoPolicy(`${target.host}:${target.port}`) }],
    { subject: "sluice-demo", groups: [], kind: "human" },
    config.instanceId,
  );
  await gateway.policy.waitForVersion(applied.version);
  const agent = { subject: "demo-agent", groups: ["agents"] };
  const [approverToken, auditorToken] = await Promise.all([
    issuer.mint("demo-approver", ["approvers"]),
    issuer.mint("demo-auditor", ["auditors"]),
  ]);
  const taskId = await gateway.credentials.declareTask({
    intent: "Look into the refund asked for on order 1",
    agent: { ...agent, kind: "agent" },
  });
  const credential = await gateway.credentials.issue({
    identity: agent,
    target: "shop",
    access: "read-write",
    taskId,
    ttlMs: 8 * 3_600_000,
    reason: "sluice demo",
  });
  const pg = gateway.proxies.find((p) => p.protocol === "postgres");
  process.stdout.write(
    demoGuide({
      pgPort: pg?.port ?? pgPort,
      token: credential.token,
      approverToken,
      auditorToken,
      configFile,
      apiUrl: gateway.apiUrl,
      dataDir,
    }),
  );
  const stop = async () => {
    await gateway.stop();
    await Promise.allSettled([target.close(), issuer.close()]);
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function demoGuide(d: {
  pgPort: number;
  token: string;
  approverToken: string;
  auditorToken: string;
  configFile: string;
  apiUrl: string;
  dataDir: string;
}): string {
  const psql = `PGPASSWORD="$SLUICE_TOKEN" psql "host=127.0.0.1 port=${d.pgPort} user=demo-agent dbname=shop"`;
  return `
Sluice demo is running (Ctrl-C to stop). Data: ${d.dataDir}

The agent's sub-task credential (valid 8 hours, scoped to target "shop", read-write):
  export SLUICE_TOKEN='${d.token}'

1. Connect as the agent (psql negotiates TLS with the gateway's self-signed certificate):
  ${psql}

2. Masking — personal data and secrets never leave the gateway:
  ${psql} -c "SELECT name, email, ssn, api_key FROM customers"
  ${psql} -c "SELECT upper(email) AS e, card_number FROM customers JOIN orders ON orders.customer_id = customers.id"
  ${psql} -c "SELECT body FROM support_notes"

3. A denied statement (rule no-destructive-sql):
  ${psql} -c "DROP TABLE orders"

4. A held statement (rule approve-order-changes) waits for a human; its NOTICE names the approval:
  ${psql} -c "UPDATE orders SET status = 'refunded' WHERE id = 1"
  In another terminal, approve it as the demo approver:
  export SLUICE_CONFIG=${d.configFile}
  npx sluice approvals list --token '${d.approverToken}'
  npx sluice approvals approve <approval-id> --token '${d.approverToken}'

5. The audit trail (every decision, hash-chained and sealed):
  SLUICE_CONFIG=${d.configFile} npx sluice verify
  Auditor token for the API at ${d.apiUrl}: ${d.auditorToken}

`;
}
