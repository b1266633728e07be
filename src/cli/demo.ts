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
      // The demo's target is PostgreSQL: the other ports stay closed.
      proxies: { postgres: { port: pgPort }, ssh: { enabled: false }, http: { enabled: false } },
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

/** GraphQL for the demo agent's sessions with their timelines (single-quoted in the shell line). */
const TIMELINE_QUERY = JSON.stringify({
  query:
    '{ sessions(filter: { agent: "demo-agent" }, first: 5) { edges { node { id target commandCount deniedCount heldCount timeline(first: 20) { edges { node { type at data } } } } } } }',
});

function demoGuide(d: {
  pgPort: number;
  token: string;
  approverToken: string;
  auditorToken: string;
  configFile: string;
  apiUrl: string;
  dataDir: string;
}): string {
  const psql = `psql "host=127.0.0.1 port=${d.pgPort} user=demo-agent dbname=shop"`;
  return `
Sluice demo is running — Ctrl-C stops it. Its log, keys and config are in ${d.dataDir}.

In another terminal, paste these (the agent's sub-task credential, the demo approver's and
auditor's sign-in tokens, and the config the sluice command should use):

export PGPASSWORD='${d.token}'
export SLUICE_APPROVER_TOKEN='${d.approverToken}'
export SLUICE_AUDITOR_TOKEN='${d.auditorToken}'
export SLUICE_CONFIG='${d.configFile}'

1. Masking: personal data and secrets never leave the gateway.
   ${psql} -c "SELECT name, email, ssn, api_key FROM customers"
   ${psql} -c "SELECT upper(email) AS e, card_number FROM customers JOIN orders ON orders.customer_id = customers.id"
   ${psql} -c "SELECT body FROM support_notes"

2. A denied statement (rule no-destructive-sql); the session stays usable:
   ${psql} -c "DROP TABLE orders"

3. A held statement (rule approve-order-changes): psql waits, its NOTICE names the approval.
   ${psql} -c "UPDATE orders SET status = 'refunded' WHERE id = 1"
   Approve it from a third terminal (with the exports above) as the demo approver:
   npx sluice approvals list --token "$SLUICE_APPROVER_TOKEN"
   npx sluice approvals approve <approval-id> --token "$SLUICE_APPROVER_TOKEN"

4. The session timelines, as an auditor sees them in the GraphQL API (${d.apiUrl}/graphql):
   curl -s ${d.apiUrl}/graphql -H "Authorization: Bearer $SLUICE_AUDITOR_TOKEN" -H 'content-type: application/json' -d '${TIMELINE_QUERY}'

5. The audit trail — every decision, hash-chained and sealed — verified, then exported with a
   signed manifest and verified again from the export alone:
   npx sluice verify
   npx sluice export --format jsonl --seal --out ${join(d.dataDir, "export")}
   npx sluice verify --export ${join(d.dataDir, "export")}

`;
}
