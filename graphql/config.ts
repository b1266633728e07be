import { z } from "zod";

/** `api.roles` and `api.graphql` in sluice.yaml. */

const groups = z.array(z.string().min(1));

/** OIDC groups → API roles; a caller holds every role one of its groups maps to. */
export const apiRolesConfig = z
  .object({
    /** Reads everything: sessions, commands, approvals, credentials, raw events, ledger verification. */
    auditor: groups.default(["auditors"]),
    /** Sees and votes on approvals its groups may vote on (the policy's approval groups decide). */
    approver: groups.default(["approvers"]),
    /** Publishes policy; reads and manages tasks and credentials. */
    admin: groups.default(["admins"]),
    /** Its own tasks and credentials only. */
    agent: groups.default(["agents"]),
  })
  .strict();

export const graphqlConfig = z
  .object({
    maxDepth: z.number().int().min(2).max(64).default(12),
    /** graphql-armor cost: objects 2, scalars 1, times 1.5 per level, times a literal `first`. */
    maxCost: z.number().int().positive().default(20_000),
    maxAliases: z.number().int().min(0).default(15),
    maxTokens: z.number().int().positive().default(2000),
    /** Only operations from this allow-list are run (unless allowArbitrary). */
    persistedOperations: z
      .object({ file: z.string().min(1), allowArbitrary: z.boolean().default(false) })
      .strict()
      .optional(),
    /** How long a mutation waits for the read models to show its events before it answers anyway. */
    readYourWritesMs: z.number().int().min(0).max(60_000).default(5000),
  })
  .strict();

export type ApiRolesConfig = z.output<typeof apiRolesConfig>;
export type GraphqlConfig = z.output<typeof graphqlConfig>;
