import { z } from "zod";
import { secretRef } from "../config/secret-ref.ts";

/** `identity.apiKeys` in sluice.yaml: static keys for agents, stored only as HMAC hashes. */
export const apiKeysConfig = z
  .object({
    /** The deployment's HMAC key (≥ 32 bytes), by reference; without it no key verifies. */
    pepper: secretRef,
    keys: z
      .array(
        z
          .object({
            id: z.string().min(1),
            /** `hmac-sha256:<base64url>`, as `sluice apikey generate` prints it. */
            hash: z
              .string()
              .regex(/^hmac-sha256:[A-Za-z0-9_-]{43}$/, "hmac-sha256:<43 base64url characters>"),
            subject: z.string().min(1),
            groups: z.array(z.string().min(1)).default([]),
            /** Targets (globs) the key may open sessions on; any target when absent. */
            scope: z.array(z.string().min(1)).min(1).optional(),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();
export type ApiKeysConfig = z.output<typeof apiKeysConfig>;
