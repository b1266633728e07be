import { z } from "zod";
import { protocol } from "./common.ts";

const targetDescription = z.object({
  name: z.string().min(1),
  protocol,
  address: z.string(),
  /** Where the upstream secret lives (env var or file), never the secret. */
  credentialRef: z.string().optional(),
});

/** Stream `target-<name>`: upstream systems reachable through Sluice. */
export const targetEvents = {
  TargetRegistered: targetDescription,
  TargetUpdated: targetDescription,
};
