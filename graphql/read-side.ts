import type { FastifyInstance } from "fastify";
import type { CryptoKey } from "jose";
import { readModelsPath } from "../projections/config.ts";
import { openReadModels } from "../projections/database.ts";
import { allProjections } from "../projections/index.ts";
import { ReadModels } from "../projections/reads.ts";
import { ProjectionRunner } from "../projections/runner.ts";
import type { Readiness } from "../src/api/readiness.ts";
import type { SluiceConfig } from "../src/config/schema.ts";
import type { PolicySnapshot } from "../src/domain/policy/decide.ts";
import type { EventStore } from "../src/eventstore/port.ts";
import type { ExportJobs } from "../src/export/export-jobs.ts";
import type { GateServices } from "../src/gate/services.ts";
import type { Logger } from "../src/log.ts";
import type { TokenVerifier } from "./auth.ts";
import { apiRolesConfig, graphqlConfig } from "./config.ts";
import { mountGraphql } from "./server.ts";

/**
 * The read side of a gateway: the projection runner folding the log into the read models,
 * and the GraphQL API over them. Started by startGateway; the runner catches up in the
 * background (readiness reports "projections" once it has).
 */
export interface ReadSide {
  readonly runner: ProjectionRunner;
  readonly reads: ReadModels;
  /** Adds /graphql to the API server (before it listens). */
  mount(app: FastifyInstance): void;
  stop(): Promise<void>;
}

export async function startReadSide(options: {
  config: SluiceConfig;
  store: EventStore;
  services: Pick<GateServices, "approvals" | "credentials">;
  /** Exports as jobs for requestExport. */
  exports?: ExportJobs;
  policy: () => PolicySnapshot | null;
  sealKey: CryptoKey;
  verifier?: TokenVerifier;
  readiness: Readiness;
  log: Logger;
}): Promise<ReadSide> {
  const { config, store, log } = options;
  const db = openReadModels(readModelsPath(config));
  const runner = new ProjectionRunner({ store, db, projections: allProjections, log });
  try {
    await runner.start();
  } catch (error) {
    db.close();
    throw error;
  }
  options.readiness.register("projections", () => runner.caughtUp && runner.lastError === null);
  const reads = new ReadModels(db);
  const graphql = graphqlConfig.parse(config.api.graphql ?? {});
  return {
    runner,
    reads,
    mount(app) {
      mountGraphql(
        app,
        {
          store,
          runner,
          reads,
          approvals: options.services.approvals,
          credentials: options.services.credentials,
          ...(options.exports ? { exports: options.exports } : {}),
          policy: options.policy,
          verifier: options.verifier,
          sealKey: options.sealKey,
          gatewayInstance: config.instanceId,
          roles: apiRolesConfig.parse(config.api.roles ?? {}),
          log,
          readYourWritesMs: graphql.readYourWritesMs,
        },
        {
          limits: graphql,
          ...(graphql.persistedOperations ? { persistedOperations: graphql.persistedOperations } : {}),
        },
      );
    },
    async stop() {
      await runner.stop();
      if (db.open) db.close();
    },
  };
}
