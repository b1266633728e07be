import { hostname } from "node:os";
import { z } from "zod";
import { apiRolesConfig, graphqlConfig } from "../../graphql/config.ts";
import { readModelsConfig } from "../../projections/config.ts";
import { retentionConfig } from "../export/retention-config.ts";
import { notificationsConfig } from "../gate/notify/config.ts";
import { apiKeysConfig } from "../identity/api-keys-config.ts";
import { httpProxyConfig } from "../proxy/http/config.ts";
import { postgresProxyConfig } from "../proxy/postgres/config.ts";
import { sshProxyConfig } from "../proxy/ssh/config.ts";
import { secretRef } from "./secret-ref.ts";

/** `sluice.yaml`: every key, its default, and what it means (the README's reference mirrors this). */

const sqliteStore = z
  .object({
    kind: z.literal("sqlite"),
    /** Database file; default `<dataDir>/sluice.db`. */
    path: z.string().optional(),
    /** Where commits run: "thread" (a writer thread) or "inline" (the event loop; see SqliteStoreOptions). */
    writer: z.enum(["thread", "inline"]).optional(),
  })
  .strict();

const postgresStore = z
  .object({
    kind: z.literal("postgres"),
    /** Connection URL (it carries a password, so only by reference). */
    url: secretRef,
    schema: z.string().default("sluice"),
    poolSize: z.number().int().min(2).max(100).default(4),
  })
  .strict();

const esdbStore = z
  .object({
    kind: z.literal("esdb"),
    /** `esdb://` / `kurrentdb://` connection string, by reference. */
    url: secretRef,
    /** Keeps this deployment's streams apart on a shared cluster (`<namespace>:<stream>`). */
    namespace: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/)
      .optional(),
  })
  .strict();

export const configSchema = z
  .object({
    /** Where the embedded store, keys and generated certificates live. */
    dataDir: z.string().default("./data"),
    /** Names this gateway in every event's metadata. */
    instanceId: z.string().min(1).default(hostname()),
    log: z
      .object({
        level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
      })
      .strict()
      .default({ level: "info" }),
    api: z
      .object({
        host: z.string().default("127.0.0.1"),
        port: z.number().int().min(0).max(65535).default(8080),
        /** OIDC groups that hold each GraphQL API role (defaults: graphql/config.ts). */
        roles: apiRolesConfig.optional(),
        /** GraphQL limits and the persisted-operations allow-list (defaults: graphql/config.ts). */
        graphql: graphqlConfig.optional(),
      })
      .strict()
      .default({ host: "127.0.0.1", port: 8080 }),
    /** The projections' read models (SQLite), rebuilt from the log whenever needed. */
    readModels: readModelsConfig.default({}),
    store: z.discriminatedUnion("kind", [sqliteStore, postgresStore, esdbStore]).default({ kind: "sqlite" }),
    ledger: z
      .object({
        /** How often the sealer appends a signed Merkle root over new events; 0 disables it. */
        sealIntervalSeconds: z.number().min(0).default(60),
        /** Ed25519 private JWK; default `<dataDir>/keys/ledger-ed25519.jwk`, generated on first start. */
        signingKeyFile: z.string().optional(),
      })
      .strict()
      .default({ sealIntervalSeconds: 60 }),
    /** How agents and humans authenticate. */
    identity: z
      .object({
        oidc: z
          .object({
            issuer: z.url(),
            audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
            groupsClaim: z.string().default("groups"),
            clockSkewSeconds: z.number().min(0).max(300).default(30),
            algorithms: z.array(z.string()).optional(),
          })
          .strict()
          .optional(),
        /** Static API keys for agents, the alternative to OIDC tokens (sent where a token goes). */
        apiKeys: apiKeysConfig.optional(),
      })
      .strict()
      .default({}),
    /** Where agents reach the proxies, for the connection strings `sluice credential issue` prints. */
    publicHost: z.string().default("127.0.0.1"),
    /** Redis for jobs shared by several instances (BullMQ); without it jobs run in-process. */
    redis: z
      .object({ url: secretRef, queue: z.string().min(1).default("sluice-jobs") })
      .strict()
      .optional(),
    /** The proxy ports agents connect to; each can be turned off or moved. */
    proxies: z
      .object({
        postgres: postgresProxyConfig.default(postgresProxyConfig.parse({})),
        ssh: sshProxyConfig.default(sshProxyConfig.parse({})),
        http: httpProxyConfig.default(httpProxyConfig.parse({})),
      })
      .strict()
      .default({
        postgres: postgresProxyConfig.parse({}),
        ssh: sshProxyConfig.parse({}),
        http: httpProxyConfig.parse({}),
      }),
    /** Who is told when a command is held for approval (webhooks). */
    notifications: notificationsConfig.default({ webhooks: [] }),
    /** How long events stay in the store before archive export and removal (src/export/retention-config.ts). */
    retention: retentionConfig.default({ intervalSeconds: 3600, maxEventsPerRemoval: 50_000 }),
    /** How long shutdown waits for in-flight work before closing the store anyway. */
    shutdownTimeoutSeconds: z.number().positive().default(10),
  })
  .strict();

export type SluiceConfig = z.output<typeof configSchema>;
export type StoreConfig = SluiceConfig["store"];
