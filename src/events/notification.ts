import { z } from "zod";
import { id } from "./common.ts";

/** Stream `notification-<approvalId>`: how telling the approvers about a held command went. */
export const notificationEvents = {
  ApproverNotified: z.object({
    approvalId: id,
    /** The configured webhook's name (never its URL or secret). */
    target: z.string(),
    status: z.enum(["delivered", "failed"]),
    attempts: z.number().int().positive(),
    httpStatus: z.number().int().optional(),
    error: z.string().optional(),
  }),
};
