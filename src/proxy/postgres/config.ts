import { z } from "zod";

/** `proxies.postgres` in sluice.yaml. */
export const postgresProxyConfig = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(15432),
    tls: z
      .object({
        /** optional: clients may negotiate TLS (sslmode=prefer/require); required: plaintext is refused; disabled: no TLS. */
        mode: z.enum(["optional", "required", "disabled"]).default("optional"),
        /** PEM files; default a self-signed certificate generated into `<dataDir>/tls/` on first start. */
        certFile: z.string().optional(),
        keyFile: z.string().optional(),
      })
      .strict()
      .default({ mode: "optional" }),
    /** The password field carries a token: without TLS it is refused unless this is set (e.g. loopback-only demos). */
    allowPasswordWithoutTls: z.boolean().default(false),
    /** Largest message accepted from a client or upstream; past it the connection ends with SQLSTATE 54000. */
    maxFrameBytes: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024 * 1024),
    /** Masked result rows kept per command in CommandCompleted for replay; the rest is counted as cut. */
    recordOutputBytes: z
      .number()
      .int()
      .min(0)
      .default(16 * 1024),
    /** Catalog lookups (column origins, view definitions) are cached this long; DDL through the gateway clears them. */
    catalogTtlSeconds: z.number().min(0).default(60),
    upstreamConnectTimeoutSeconds: z.number().positive().default(10),
  })
  .strict();
export type PostgresProxyConfig = z.output<typeof postgresProxyConfig>;
