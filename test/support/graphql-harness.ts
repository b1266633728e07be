import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Gateway, startGateway } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/log.ts";
import { type RunningOidcProvider, startOidcProvider } from "./oidc-provider.ts";
import { makeTempDir } from "./tempdir.ts";

/**
 * A running gateway (startGateway, SQLite, in-process jobs) with a real OIDC provider, a token
 * per test persona, and a small GraphQL-over-HTTP client.
 */

export const PERSONAS = {
  audrey: ["auditors"], // AUDITOR
  dana: ["approvers", "dba"], // APPROVER for the dba approval group
  adam: ["admins"], // ADMIN
  "agent-42": ["agents"], // AGENT
  "agent-7": ["agents"], // another AGENT
  nobody: ["guests"], // no role
} as const;
export type Persona = keyof typeof PERSONAS;

export const POLICY = `
targets:
  - { name: orders-db, protocol: postgres, address: "127.0.0.1:5432" }
access:
  - { name: agents, who: { groups: [agents] }, targets: ["*"], level: read-write, maxTtl: 15m }
rules:
  - name: approve-order-writes
    action: require_approval
    match: { targets: [orders-db], sql: { readOnly: false, relations: [orders] } }
    approval: { groups: [dba], timeout: 1m }
  - name: approve-refunds
    action: require_approval
    match: { sql: { relations: [refunds] } }
    approval: { groups: [leads], timeout: 1m }
`;

export interface GqlResult {
  status: number;
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string; reason?: string } }[];
}

export interface GraphqlHarness {
  gateway: Gateway;
  provider: RunningOidcProvider;
  tokens: Record<Persona, string>;
  gql(as: Persona | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult>;
  /** Raw POST to /graphql with any body and token (for limits and persisted operations). */
  post(body: unknown, token?: string): Promise<GqlResult>;
  close(): Promise<void>;
}

export async function startGraphqlHarness(extraConfig = ""): Promise<GraphqlHarness> {
  const provider = await startOidcProvider({ clientIds: Object.keys(PERSONAS) });
  const dir = makeTempDir("graphql");
  const configFile = join(dir.path, "sluice.yaml");
  writeFileSync(
    configFile,
    `dataDir: ${join(dir.path, "data")}\nledger: { sealIntervalSeconds: 0 }\napi: { port: 0${extraConfig} }\n` +
      "proxies: { postgres: { port: 0 }, ssh: { port: 0 }, http: { port: 0 } }\n" +
      `identity:\n  oidc:\n    issuer: ${provider.issuer}\n    audience: ${provider.audience}\n`,
  );
  const gateway = await startGateway(loadConfig({ file: configFile }), { log: createLogger("silent", "gw") });
  const tokens = {} as Record<Persona, string>;
  for (const [clientId, groups] of Object.entries(PERSONAS)) {
    tokens[clientId as Persona] = await provider.mintToken({ clientId, claims: { groups }, ttlSeconds: 600 });
  }
  const post = async (body: unknown, token?: string): Promise<GqlResult> => {
    const response = await fetch(`${gateway.apiUrl}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: response.status, ...((await response.json()) as object) };
  };
  return {
    gateway,
    provider,
    tokens,
    post,
    gql: (as, query, variables = {}) => post({ query, variables }, as ? tokens[as] : undefined),
    async close() {
      await gateway.stop();
      await provider.stop();
      dir.remove();
    },
  };
}

/** The `extensions.code` of the first error, or "OK" when there is none. */
export function outcome(result: GqlResult): string {
  return result.errors?.[0]?.extensions?.code ?? (result.errors ? "NO_CODE" : "OK");
}
