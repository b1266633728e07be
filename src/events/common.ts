import { z } from "zod";

/** Shapes shared by several domains of the event catalogue. */

export const protocol = z.enum(["postgres", "ssh", "http", "kubernetes"]);
export type Protocol = z.infer<typeof protocol>;

export const decision = z.enum(["allow", "deny", "require_approval"]);
export type Decision = z.infer<typeof decision>;

/** Who acted: an agent or human (OIDC subject), a gateway credential, or the gateway itself. */
export const identityRef = z.object({
  subject: z.string().min(1),
  issuer: z.string().optional(),
  groups: z.array(z.string()).default([]),
  kind: z.enum(["agent", "human", "gateway", "policy"]).default("agent"),
});
export type IdentityRef = z.infer<typeof identityRef>;

export const isoTime = z.iso.datetime({ offset: true });
export const id = z.string().min(1).max(200);

/** A serialised classification (SQL statement kinds, SSH argv, HTTP verb/resource …). */
export const classification = z.record(z.string(), z.unknown());
