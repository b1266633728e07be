import { z } from "zod";

/** `proxies.postgres` in sluice.yaml. */
export const postgresProxyConfig = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(15432),
  })
  .strict();
export type PostgresProxyConfig = z.output<typeof postgresProxyConfig>;
