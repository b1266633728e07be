import { approvalsProjection } from "./approvals.ts";
import { auditProjection } from "./audit.ts";
import { credentialsProjection } from "./credentials.ts";
import { policyProjection } from "./policy.ts";
import type { Projection } from "./projection.ts";
import { sessionsProjection } from "./sessions.ts";
import { tasksProjection } from "./tasks.ts";

/** Every read model the gateway keeps, by name (`sluice projections rebuild NAME`). */
export const allProjections: readonly Projection[] = [
  policyProjection,
  approvalsProjection,
  sessionsProjection,
  tasksProjection,
  credentialsProjection,
  auditProjection,
];
