import type { Logger } from "pino";
import { isSluiceError, SluiceError } from "../../errors.ts";
import { type Job, RETRY, type Scheduler } from "../../jobs/scheduler.ts";
import { postWebhook } from "./delivery.ts";
import { type ApprovalNotice, type WebhookFormat, webhookBody } from "./payload.ts";

export type { ApprovalNotice } from "./payload.ts";
export { signWebhook, verifyWebhookSignature } from "./signature.ts";

export interface WebhookTarget {
  name: string;
  url: string;
  secret: string;
  format?: WebhookFormat;
}

export interface DeliveryOutcome {
  approvalId: string;
  target: string;
  status: "delivered" | "failed";
  attempts: number;
  httpStatus?: number;
  error?: string;
}

export interface WebhookNotifierOptions {
  scheduler: Scheduler;
  targets: WebhookTarget[];
  record?: (outcome: DeliveryOutcome) => Promise<void>;
  timeoutMs?: number;
  log?: Logger;
}

export const WEBHOOK_JOB = "webhook-delivery";

/** What a delivery job carries: the target by name only, so no secret or URL is stored in Redis. */
interface DeliveryJob {
  notice: ApprovalNotice;
  target: string;
}

/**
 * Tells approvers that a command is held, by signed webhook to each configured target. Each
 * (notice, target) is one scheduler job `${approvalId}:${target}`, retried with the scheduler's
 * backoff; `record` hears the outcome once it is final.
 */
export class WebhookNotifier {
  private readonly targets: Map<string, WebhookTarget>;
  private readonly timeoutMs: number;
  // Deliveries already scheduled by this process, until the approval expires: the scheduler would
  // otherwise run a job id again once its earlier run is finished.
  private readonly scheduled = new Map<string, number>();

  constructor(private readonly options: WebhookNotifierOptions) {
    this.targets = new Map();
    for (const target of options.targets) {
      if (this.targets.has(target.name)) {
        throw new SluiceError("CONFIG_INVALID", `webhook target "${target.name}" is defined twice`);
      }
      if (!/^https?:\/\//i.test(target.url)) {
        throw new SluiceError("CONFIG_INVALID", `webhook target "${target.name}" needs an http(s) URL`);
      }
      this.targets.set(target.name, target);
    }
    this.timeoutMs = options.timeoutMs ?? 5_000;
    options.scheduler.handle(WEBHOOK_JOB, (job) => this.deliver(job));
  }

  async notify(notice: ApprovalNotice): Promise<void> {
    this.forgetExpired();
    const expires = Date.parse(notice.expiresAt);
    const keepUntil = Number.isNaN(expires) ? Date.now() + 86_400_000 : expires;
    await Promise.all(
      [...this.targets.keys()].map(async (target) => {
        const id = `${notice.approvalId}:${target}`;
        if (this.scheduled.has(id)) return;
        this.scheduled.set(id, keepUntil);
        const data: DeliveryJob = { notice, target };
        try {
          await this.options.scheduler.schedule(WEBHOOK_JOB, id, new Date(), data);
        } catch (error) {
          this.scheduled.delete(id); // not scheduled: a later notify() may try again
          throw error;
        }
      }),
    );
  }

  private async deliver(job: Job): Promise<void> {
    const { notice, target: name } = job.data as DeliveryJob;
    const target = this.targets.get(name);
    const base = { approvalId: notice.approvalId, target: name, attempts: job.attempt };
    if (!target) {
      // The target left the configuration since the job was scheduled: retrying cannot help.
      this.options.log?.warn({ webhook: name, approvalId: notice.approvalId }, "webhook target unknown");
      await this.options.record?.({ ...base, status: "failed", error: `unknown webhook target "${name}"` });
      return;
    }
    let httpStatus: number;
    try {
      httpStatus = await postWebhook({
        targetName: target.name,
        url: target.url,
        secret: target.secret,
        deliveryId: job.id,
        body: webhookBody(notice, target.format ?? "json"),
        timeoutMs: this.timeoutMs,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const final = job.attempt >= RETRY.attempts;
      this.options.log?.warn(
        { webhook: name, approvalId: notice.approvalId, attempt: job.attempt, final, reason: message },
        "webhook delivery failed",
      );
      if (final) {
        const status = isSluiceError(error) ? error.details.httpStatus : undefined;
        await this.options.record?.({
          ...base,
          status: "failed",
          error: message,
          ...(typeof status === "number" ? { httpStatus: status } : {}),
        });
      }
      throw error;
    }
    // A failing record throws too: the job runs again (receivers dedupe on x-sluice-delivery).
    await this.options.record?.({ ...base, status: "delivered", httpStatus });
  }

  private forgetExpired(): void {
    const now = Date.now();
    for (const [id, until] of this.scheduled) if (until < now) this.scheduled.delete(id);
  }
}
