import { z } from "zod";

const recording = z
  .object({
    /** Shell output and input are appended as OutputRecorded at least this often… */
    batchMs: z.number().int().min(10).default(250),
    /** …or as soon as this many bytes are waiting. */
    batchBytes: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024),
    /** Recorded shell bytes per session; past it the rest is counted (CommandCompleted.truncated), not kept. */
    maxSessionBytes: z
      .number()
      .int()
      .min(0)
      .default(16 * 1024 * 1024),
    /** Masked exec output kept in CommandCompleted.output; the rest is counted as cut. */
    execOutputBytes: z
      .number()
      .int()
      .min(0)
      .default(64 * 1024),
    /** Record what the agent types in shells (masked like output). */
    stdin: z.boolean().default(true),
    /** Output waits (backpressure) while this many recorded bytes are not yet durable. */
    maxPendingBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .default(4 * 1024 * 1024),
  })
  .strict();

/** `proxies.ssh` in sluice.yaml. */
export const sshProxyConfig = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(12222),
    /** OpenSSH or PEM private key; default an Ed25519 key generated into `<dataDir>/keys/ssh-host-ed25519` on first start. */
    hostKeyFile: z.string().optional(),
    /** Agent connections open at once; more are refused at the TCP accept. */
    maxConnections: z.number().int().positive().default(256),
    /** Channels (sessions, forwards) open at once per agent connection. */
    maxChannelsPerConnection: z.number().int().positive().default(16),
    /** Time an agent has to authenticate. */
    authTimeoutSeconds: z.number().positive().default(30),
    upstreamConnectTimeoutSeconds: z.number().positive().default(10),
    /** Environment variables passed upstream (`SendEnv`); `*` ends a prefix (`LC_*`). Others are refused. */
    env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/)).default(["LANG", "LC_*"]),
    /** Masks credentials (cloud keys, private keys, tokens, passwords in URLs) when no masking profile applies. */
    maskSecretsByDefault: z.boolean().default(true),
    /** Worker threads that mask output beside the main thread (0: on the main thread; auto: one per core but one). */
    maskWorkers: z.union([z.literal("auto"), z.number().int().min(0).max(64)]).default("auto"),
    /** Bound on the longest secret a chunk boundary may split (bytes); see MaskingStream. */
    maskMaxCarry: z
      .number()
      .int()
      .min(4096)
      .default(16 * 1024),
    /** Told on stderr when a command is held; {approvalId}, {rule} and {command} are filled in. */
    holdNotice: z
      .string()
      .default(
        "sluice: held for approval {approvalId} (rule {rule}); waiting. An approver runs: sluice approvals approve {approvalId}",
      ),
    recording: recording.default(recording.parse({})),
  })
  .strict();
export type SshProxyConfig = z.output<typeof sshProxyConfig>;
