import { z } from "zod";

/** `proxies.http` in sluice.yaml. */
export const httpProxyConfig = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(18080),
  })
  .strict();
export type HttpProxyConfig = z.output<typeof httpProxyConfig>;
