import { z } from "zod";
import { classification, decision, id, identityRef, protocol } from "./common.ts";

/** Stream `session-<id>`: one agent connection through a proxy port. */
export const sessionEvents = {
  SessionStarted: z.object({
    sessionId: id,
    protocol,
    target: z.string(),
    identity: identityRef,
    credentialId: id.optional(),
    taskId: id.optional(),
    client: z.object({ address: z.string(), application: z.string().optional() }),
  }),
  CommandDecided: z.object({
    sessionId: id,
    commandId: id,
    protocol,
    /** The command exactly as the agent sent it (statement text, argv line, method + URL). */
    command: z.string(),
    parameters: z.array(z.string().nullable()).optional(),
    classification,
    decision,
    rule: z.string().nullable(),
    reason: z.string(),
    policyVersion: z.number().int().nonnegative(),
    approvalId: id.optional(),
  }),
  CommandCompleted: z.object({
    sessionId: id,
    commandId: id,
    status: z.enum(["ok", "error", "denied", "cancelled"]),
    durationMs: z.number().nonnegative(),
    rows: z.number().int().nonnegative().optional(),
    tag: z.string().optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
    /** What masking changed: never the raw value, only where and by which rule. */
    masked: z
      .array(z.object({ field: z.string(), rule: z.string(), count: z.number().int().positive() }))
      .default([]),
    /** Masked output kept for replay, truncated to the configured size. */
    output: z.string().optional(),
    truncated: z
      .object({ bytes: z.number().int().nonnegative(), rows: z.number().int().nonnegative() })
      .optional(),
  }),
  OutputRecorded: z.object({
    sessionId: id,
    chunks: z.array(
      z.object({
        offsetMs: z.number().nonnegative(),
        channel: z.enum(["stdin", "stdout", "stderr"]),
        data: z.string(),
      }),
    ),
  }),
  SessionEnded: z.object({
    sessionId: id,
    reason: z.string(),
    durationMs: z.number().nonnegative(),
  }),
};
