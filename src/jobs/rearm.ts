import type { ReadModels } from "../../projections/reads.ts";
import type { ProjectionRunner } from "../../projections/runner.ts";
import type { EventStore } from "../eventstore/port.ts";
import { APPROVAL_EXPIRY_JOB } from "../gate/approvals.ts";
import { CREDENTIAL_EXPIRY_JOB } from "../gate/credentials.ts";
import type { Logger } from "../log.ts";
import type { Scheduler } from "./scheduler.ts";

const PAGE = 500;

/**
 * At start, from the read models: schedule the expiry of every active credential and pending
 * approval again. The in-process scheduler forgets its jobs on restart (BullMQ keeps them in
 * Redis); the handlers are idempotent, so scheduling twice is harmless either way.
 */
export async function rearmExpiries(options: {
  store: EventStore;
  runner: ProjectionRunner;
  reads: ReadModels;
  scheduler: Scheduler;
  log: Logger;
}): Promise<{ credentials: number; approvals: number }> {
  const { reads, scheduler } = options;
  await options.runner.waitFor(await options.store.headPosition(), Number.POSITIVE_INFINITY);
  let credentials = 0;
  let beforeSeq: number | undefined;
  for (;;) {
    const rows = reads.credentials.list({
      status: "active",
      limit: PAGE,
      ...(beforeSeq ? { beforeSeq } : {}),
    });
    for (const row of rows)
      await scheduler.schedule(CREDENTIAL_EXPIRY_JOB, row.credentialId, new Date(row.expiresAt));
    credentials += rows.length;
    if (rows.length < PAGE) break;
    beforeSeq = rows[rows.length - 1]?.seq;
  }
  let approvals = 0;
  let afterSeq: number | undefined;
  for (;;) {
    const rows = reads.approvals.list({
      status: "pending",
      oldestFirst: true,
      limit: PAGE,
      ...(afterSeq ? { afterSeq } : {}),
    });
    for (const row of rows)
      await scheduler.schedule(APPROVAL_EXPIRY_JOB, row.approvalId, new Date(row.expiresAt));
    approvals += rows.length;
    if (rows.length < PAGE) break;
    afterSeq = rows[rows.length - 1]?.seq;
  }
  options.log.info({ credentials, approvals }, "expiry jobs re-armed from the read models");
  return { credentials, approvals };
}
