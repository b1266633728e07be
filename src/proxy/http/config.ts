import { z } from "zod";

const MiB = 1024 * 1024;

const limits = z
  .object({
    /** Largest request body forwarded upstream; past it the request ends with 413. */
    requestBodyBytes: z
      .number()
      .int()
      .min(0)
      .default(64 * MiB),
    /** Longest JSON string value held for content masking; past it the rest of the body is masked as text. */
    jsonValueBytes: z
      .number()
      .int()
      .min(4096)
      .default(1 * MiB),
    /** Masked request and response bodies kept in CommandCompleted.output; the rest is counted as cut. */
    recordBodyBytes: z
      .number()
      .int()
      .min(0)
      .default(64 * 1024),
    /** Bound on the longest secret a chunk boundary may split (bytes); see MaskingStream. */
    maskMaxCarry: z
      .number()
      .int()
      .min(4096)
      .default(16 * 1024),
  })
  .strict();

const upstream = z
  .object({
    connectTimeoutSeconds: z.number().positive().default(10),
    /** Time from sending the request to the upstream's response headers (504 past it). */
    responseTimeoutSeconds: z.number().positive().default(60),
    /** A response body (not a watch or an upgraded stream) silent this long is cut. */
    idleTimeoutSeconds: z.number().positive().default(300),
  })
  .strict();

const tls = z
  .object({
    /** kubectl sends its token only over TLS; `disabled` serves plain HTTP (loopback demos, curl). */
    mode: z.enum(["enabled", "disabled"]).default("enabled"),
    /** PEM files; default a self-signed certificate generated into `<dataDir>/tls/` on first start. */
    certFile: z.string().optional(),
    keyFile: z.string().optional(),
  })
  .strict();

/** `proxies.http` in sluice.yaml: the HTTP and Kubernetes API port. */
export const httpProxyConfig = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(18080),
    tls: tls.default(tls.parse({})),
    /** A held request stays open this long waiting for approval, then gets 202 with the approval id. */
    holdWaitSeconds: z.number().min(0).max(3600).default(30),
    /** An HTTP session (one per token and target) ends after this long without requests, holds or grants. */
    sessionIdleSeconds: z.number().positive().default(300),
    /** Masks credentials (cloud keys, private keys, tokens, passwords in URLs) when no masking profile applies. */
    maskSecretsByDefault: z.boolean().default(true),
    limits: limits.default(limits.parse({})),
    upstream: upstream.default(upstream.parse({})),
  })
  .strict();
export type HttpProxyConfig = z.output<typeof httpProxyConfig>;
