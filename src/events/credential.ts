import { z } from "zod";
import { id, identityRef, isoTime } from "./common.ts";

/** Stream `credential-<id>`: one short-lived, sub-task scoped gateway credential. */
export const credentialEvents = {
  CredentialIssued: z.object({
    credentialId: id,
    subject: identityRef,
    target: z.string(),
    access: z.string(),
    taskId: id,
    reason: z.string().optional(),
    expiresAt: isoTime,
    /** SHA-256 of the token: the token itself never enters the log. */
    tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
    upstream: z.object({ mode: z.enum(["static", "ephemeral"]), role: z.string().optional() }).optional(),
  }),
  CredentialUsed: z.object({ credentialId: id, sessionId: id }),
  CredentialRevoked: z.object({ credentialId: id, by: identityRef, reason: z.string() }),
  CredentialExpired: z.object({ credentialId: id }),
  /** An ephemeral upstream role made for this credential (its password never enters the log). */
  UpstreamRoleCreated: z.object({
    credentialId: id,
    target: z.string(),
    role: z.string(),
    template: z.string(),
    validUntil: isoTime,
  }),
  UpstreamRoleDropped: z.object({
    credentialId: id,
    target: z.string(),
    role: z.string(),
    reason: z.enum(["expired", "revoked", "orphaned"]),
    backendsTerminated: z.number().int().nonnegative(),
  }),
};
