import { z } from "zod";
import { secretRef } from "../../config/secret-ref.ts";

/** `notifications` in sluice.yaml: who is told when a command is held for approval. */
export const notificationsConfig = z
  .object({
    webhooks: z
      .array(
        z
          .object({
            name: z.string().min(1),
            url: z.url(),
            /** HMAC-SHA256 key for `x-sluice-signature`, by reference. */
            secret: secretRef,
            /** `slack`: Slack's incoming-webhook payload; `json`: Sluice's own. */
            format: z.enum(["json", "slack"]).default("json"),
          })
          .strict(),
      )
      .default([]),
    /** A link for approvers in every notice; `{approvalId}` is replaced (e.g. a review page). */
    approveUrl: z.string().optional(),
  })
  .strict();
export type NotificationsConfig = z.output<typeof notificationsConfig>;
