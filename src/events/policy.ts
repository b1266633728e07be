import { z } from "zod";
import { identityRef } from "./common.ts";

/** Stream `policy`: every applied policy document, whole. */
export const policyEvents = {
  PolicyVersionPublished: z.object({
    version: z.number().int().positive(),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    author: identityRef,
    document: z.record(z.string(), z.unknown()),
    diff: z.array(z.string()).default([]),
  }),
};
