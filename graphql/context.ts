import type { CryptoKey } from "jose";
import type { ReadModels } from "../projections/reads.ts";
import type { ProjectionRunner } from "../projections/runner.ts";
import type { PolicySnapshot } from "../src/domain/policy/decide.ts";
import type { EventStore } from "../src/eventstore/port.ts";
import type { ExportJobs } from "../src/export/export-jobs.ts";
import type { ApprovalService } from "../src/gate/approvals.ts";
import type { CredentialService } from "../src/gate/credentials.ts";
import type { Logger } from "../src/log.ts";
import type { RoleMapping, TokenVerifier, Viewer } from "./auth.ts";

/** What the GraphQL API is built from: the log, the read models, and the gate's services. */
export interface GraphqlDeps {
  store: EventStore;
  runner: ProjectionRunner;
  reads: ReadModels;
  approvals: ApprovalService;
  credentials: CredentialService;
  policy: () => PolicySnapshot | null;
  /** OIDC verifier; without one every request is UNAUTHENTICATED. */
  verifier?: TokenVerifier;
  /** Public key the ledger seals are checked against. */
  sealKey: CryptoKey;
  gatewayInstance: string;
  roles: RoleMapping;
  log: Logger;
  /** Exports as jobs (requestExport); absent where the gateway runs none. */
  exports?: ExportJobs;
  /** How long a mutation waits for the read models to show what it appended. */
  readYourWritesMs?: number;
}

export interface GraphqlContext {
  deps: GraphqlDeps;
  reads: ReadModels;
  viewer: Viewer;
  /** Waits (bounded) until the read models include everything appended so far. */
  settle(): Promise<void>;
  /** Ends each open subscription: the server ends them all before it closes. */
  live: Set<() => void>;
}

export function makeSettle(deps: GraphqlDeps): () => Promise<void> {
  return async () => {
    const head = await deps.store.headPosition();
    const reached = await deps.runner.waitFor(head, deps.readYourWritesMs ?? 5000);
    if (!reached) deps.log.warn({ head: String(head) }, "read models lag behind a mutation's events");
  };
}
