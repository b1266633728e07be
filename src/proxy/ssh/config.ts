import { z } from "zod";

/** `proxies.ssh` in sluice.yaml. */
export const sshProxyConfig = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(12222),
  })
  .strict();
export type SshProxyConfig = z.output<typeof sshProxyConfig>;
