import { randomUUID } from "node:crypto";
import {
  type CredentialEvent,
  type CredentialState,
  evolveCredential,
  grantFor,
  initialCredentialState,
  usable,
} from "../domain/credential.ts";
import type { PolicySnapshot } from "../domain/policy/decide.ts";
import type { AccessLevel, Grant } from "../domain/policy/document.ts";
import type { Identity } from "../domain/policy/match.ts";
import { SluiceError } from "../errors.ts";
import { credentialStream, type IdentityRef, makeMetadata, newEvent, taskStream } from "../events/index.ts";
import { WrongExpectedRevisionError } from "../eventstore/conflict.ts";
import { foldStream } from "../eventstore/fold.ts";
import type { EventStore } from "../eventstore/port.ts";
import {
  type CredentialClaims,
  mintCredentialToken,
  tokenHash,
  verifyCredentialToken,
} from "../identity/gateway-token.ts";
import type { SigningKey } from "../identity/signing-key.ts";
import { PostgresRoleManager } from "../identity/upstream/postgres-roles.ts";
import type { Scheduler } from "../jobs/scheduler.ts";
import type { ApprovalService } from "./approvals.ts";
import { type CredentialWatch, CredentialWatches } from "./credential-watches.ts";

type DropReason = "expired" | "revoked" | "orphaned";

/**
 * Tasks and sub-task credentials: declare a task, issue a short-lived credential within what
 * policy grants, revoke it, and check it at every use. Expiry is a scheduled job.
 */

export const CREDENTIAL_EXPIRY_JOB = "credential-expiry";
export const ROLE_DROP_JOB = "upstream-role-drop";

export interface CredentialServiceOptions {
  store: EventStore;
  key: SigningKey;
  policy: () => PolicySnapshot | null;
  scheduler: Scheduler;
  gatewayInstance: string;
  /** Asks approvers when a grant requires approval before issuance. */
  approvals?: ApprovalService;
  /** Manages ephemeral roles of PostgreSQL targets that ask for them (`ephemeralRole` in policy). */
  roles?: (target: string) => PostgresRoleManager | undefined;
  now?: () => Date;
}

export class CredentialService {
  private readonly now: () => Date;
  private readonly watches: CredentialWatches;

  constructor(private readonly options: CredentialServiceOptions) {
    this.now = options.now ?? (() => new Date());
    this.watches = new CredentialWatches(options.store, (credentialId) => this.load(credentialId));
    // Idempotent: a second run finds the credential no longer active and appends nothing.
    options.scheduler.handle(CREDENTIAL_EXPIRY_JOB, async (job) => this.expire(job.id));
    // Retried with backoff by the scheduler while the database is unreachable.
    options.scheduler.handle(ROLE_DROP_JOB, async (job) => this.dropRole(job.id, job.data as DropReason));
  }

  async declareTask(task: {
    taskId?: string;
    parentTaskId?: string;
    intent: string;
    agent: IdentityRef;
  }): Promise<string> {
    const taskId = task.taskId ?? randomUUID();
    if (task.parentTaskId && !(await this.exists(taskStream(task.parentTaskId)))) {
      throw new SluiceError("NOT_FOUND", `parent task ${task.parentTaskId} was never declared`);
    }
    const event = newEvent(
      "TaskDeclared",
      { taskId, parentTaskId: task.parentTaskId, intent: task.intent, agent: task.agent },
      this.meta({ actor: task.agent.subject, taskId }),
    );
    try {
      await this.options.store.append(taskStream(taskId), [event], { expectedRevision: "no_stream" });
    } catch (error) {
      if (error instanceof WrongExpectedRevisionError)
        throw new SluiceError("FORBIDDEN", `task ${taskId} exists already`);
      throw error;
    }
    return taskId;
  }

  /** Mints a credential for one task, target and access level; the token is returned once and never stored. */
  async issue(request: {
    identity: Identity;
    target: string;
    access: AccessLevel;
    taskId: string;
    ttlMs: number;
    reason?: string;
    /** The granted approval of this very request, when its grant requires one. */
    approvalId?: string;
  }): Promise<{ credentialId: string; token: string; expiresAt: Date }> {
    const policy = this.options.policy();
    if (!policy) throw new SluiceError("FORBIDDEN", "no policy is published: nothing can be granted");
    const found = grantFor(policy.document.access, request);
    if ("refused" in found) throw new SluiceError("FORBIDDEN", found.refused);
    if (!(await this.exists(taskStream(request.taskId)))) {
      throw new SluiceError("NOT_FOUND", `task ${request.taskId} was never declared`);
    }
    if (found.grant.approval) await this.approved(found.grant, request, policy.version);
    const now = this.now();
    const credentialId = randomUUID();
    const expiresAt = new Date(now.getTime() + request.ttlMs);
    const claims: CredentialClaims = {
      credentialId,
      subject: request.identity.subject,
      groups: request.identity.groups,
      target: request.target,
      access: request.access,
      taskId: request.taskId,
      expiresAt,
    };
    const token = await mintCredentialToken(this.options.key, claims, now);
    const template = policy.document.targets.find((t) => t.name === request.target)?.ephemeralRole?.template;
    const roles = template ? this.options.roles?.(request.target) : undefined;
    if (template && !roles)
      throw new SluiceError(
        "INTERNAL",
        `target ${request.target} wants ephemeral roles but has no role manager`,
      );
    // The role exists before the credential is recorded; a role left by a failed append is an orphan the reconciler drops.
    const role = roles && template ? await roles.create(credentialId, template, expiresAt) : undefined;
    const event = newEvent(
      "CredentialIssued",
      {
        credentialId,
        subject: { subject: request.identity.subject, groups: request.identity.groups },
        target: request.target,
        access: request.access,
        taskId: request.taskId,
        reason: request.reason,
        expiresAt: expiresAt.toISOString(),
        tokenHash: tokenHash(token),
        upstream: role ? { mode: "ephemeral", role: role.role } : { mode: "static" },
      },
      this.meta({ actor: request.identity.subject, taskId: request.taskId, time: now }),
    );
    const events = [event];
    if (role && template) {
      const created = {
        credentialId,
        target: request.target,
        role: role.role,
        template,
        validUntil: expiresAt.toISOString(),
      };
      events.push(
        newEvent(
          "UpstreamRoleCreated",
          created,
          this.meta({ actor: "sluice", taskId: request.taskId, time: now }),
        ),
      );
    }
    await this.options.store.append(credentialStream(credentialId), events, {
      expectedRevision: "no_stream",
    });
    await this.options.scheduler.schedule(CREDENTIAL_EXPIRY_JOB, credentialId, expiresAt);
    return { credentialId, token, expiresAt };
  }

  /**
   * Issuance under a grant that requires approval: without an approval id, one is requested and
   * APPROVAL_REQUIRED names it; with one, it must be granted and be for exactly this request.
   */
  private async approved(
    grant: Grant,
    request: {
      identity: Identity;
      target: string;
      access: AccessLevel;
      taskId: string;
      ttlMs: number;
      approvalId?: string;
    },
    policyVersion: number,
  ): Promise<void> {
    const approvals = this.options.approvals;
    const approval = grant.approval as NonNullable<Grant["approval"]>;
    if (!approvals)
      throw new SluiceError(
        "INTERNAL",
        `grant ${grant.name} needs approval and no approval service is wired`,
      );
    const command = `issue a ${request.access} credential for ${request.target} (task ${request.taskId}, ${request.ttlMs / 1000}s)`;
    if (!request.approvalId) {
      const approvalId = randomUUID();
      await approvals.request({
        approvalId,
        requester: { subject: request.identity.subject, groups: request.identity.groups, kind: "agent" },
        taskId: request.taskId,
        target: request.target,
        command,
        classification: { kind: "credential", access: request.access },
        rule: `grant:${grant.name}`,
        policyVersion,
        approverGroups: approval.groups,
        quorum: approval.quorum,
        anyDenyEnds: true,
        expiresAt: new Date(this.now().getTime() + approval.timeout).toISOString(),
      });
      throw new SluiceError(
        "APPROVAL_REQUIRED",
        `grant ${grant.name} issues this credential only once approved: approval ${approvalId} is waiting for ${approval.groups.join(", ")}`,
        { approvalId },
      );
    }
    const state = await approvals.state(request.approvalId);
    const asked = state.status === "none" ? undefined : state.request;
    if (!asked || asked.command !== command || asked.requester.subject !== request.identity.subject)
      throw new SluiceError("FORBIDDEN", `approval ${request.approvalId} is not for this credential`);
    if (state.status !== "granted")
      throw new SluiceError("FORBIDDEN", `approval ${request.approvalId} is ${state.status}, not granted`);
  }

  async revoke(credentialId: string, by: IdentityRef, reason: string): Promise<void> {
    const { state, revision } = await this.load(credentialId);
    if (state.status === "none")
      throw new SluiceError("NOT_FOUND", `credential ${credentialId} does not exist`);
    if (state.status !== "active") return; // revoking twice, or after expiry, changes nothing
    const event = newEvent(
      "CredentialRevoked",
      { credentialId, by, reason },
      this.meta({ actor: by.subject }),
    );
    await this.options.store.append(credentialStream(credentialId), [event], { expectedRevision: revision });
    // This instance's sessions refuse the very next command; others see it through their subscription.
    this.watches.apply(credentialId, event as unknown as CredentialEvent);
    await this.options.scheduler.cancel(CREDENTIAL_EXPIRY_JOB, credentialId);
    if (!state.role) return;
    try {
      await this.dropRole(credentialId, "revoked");
    } catch {
      // The database is unreachable: the drop becomes a job, retried with backoff.
      await this.options.scheduler.schedule(ROLE_DROP_JOB, credentialId, this.now(), "revoked");
    }
  }

  /**
   * At start: drop ephemeral roles whose credential is no longer active (the gateway was down
   * when it expired or was revoked), and re-arm expiry for the active ones.
   */
  async reconcileRoles(targets: string[]): Promise<{ dropped: number; rearmed: number }> {
    let dropped = 0;
    let rearmed = 0;
    for (const target of targets) {
      const roles = this.options.roles?.(target);
      if (!roles) continue;
      for (const role of await roles.list()) {
        const credentialId = PostgresRoleManager.credentialOf(role);
        const state = await this.state(credentialId);
        if (state.status === "active") {
          await this.options.scheduler.schedule(
            CREDENTIAL_EXPIRY_JOB,
            credentialId,
            new Date(state.expiresAt),
          );
          rearmed += 1;
        } else {
          const reason: DropReason = state.status === "none" ? "orphaned" : state.status;
          if (state.status === "none") await roles.drop(role);
          else await this.dropRole(credentialId, reason);
          dropped += 1;
        }
      }
    }
    return { dropped, rearmed };
  }

  private async dropRole(credentialId: string, reason: DropReason): Promise<void> {
    const { state, revision } = await this.load(credentialId);
    if (state.status === "none" || !state.role || state.roleDropped) return;
    const roles = this.options.roles?.(state.target);
    if (!roles) return;
    const { backendsTerminated } = await roles.drop(state.role);
    const event = newEvent(
      "UpstreamRoleDropped",
      { credentialId, target: state.target, role: state.role, reason, backendsTerminated },
      this.meta({ actor: "sluice" }),
    );
    try {
      await this.options.store.append(credentialStream(credentialId), [event], {
        expectedRevision: revision,
      });
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error; // another instance recorded it
    }
  }

  /** A presented token: signature and expiry, then the ledger says whether it is still usable. */
  async authenticate(token: string): Promise<CredentialClaims> {
    const now = this.now();
    const claims = await verifyCredentialToken(this.options.key.publicKey, token, now);
    const { state } = await this.load(claims.credentialId);
    const refusal = usable(state, now);
    if (refusal)
      throw new SluiceError("UNAUTHENTICATED", refusal, { reason: refusal.replace("credential ", "") });
    return claims;
  }

  async taskExists(taskId: string): Promise<boolean> {
    return this.exists(taskStream(taskId));
  }

  async state(credentialId: string): Promise<CredentialState> {
    return (await this.load(credentialId)).state;
  }

  /** The credential's live state for a session (see CredentialWatches). */
  watch(credentialId: string): Promise<CredentialWatch> {
    return this.watches.watch(credentialId);
  }

  private async expire(credentialId: string): Promise<void> {
    const { state, revision } = await this.load(credentialId);
    if (state.status !== "active") return;
    if (Date.parse(state.expiresAt) > this.now().getTime()) {
      // Woken early (moved clock, restart): sleep again until it is due.
      await this.options.scheduler.schedule(CREDENTIAL_EXPIRY_JOB, credentialId, new Date(state.expiresAt));
      return;
    }
    const event = newEvent("CredentialExpired", { credentialId }, this.meta({ actor: "sluice" }));
    try {
      await this.options.store.append(credentialStream(credentialId), [event], {
        expectedRevision: revision,
      });
    } catch (error) {
      // Another instance expired or revoked it first: its event stands.
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      return;
    }
    if (state.role) await this.dropRole(credentialId, "expired");
  }

  private load(credentialId: string) {
    return foldStream(
      this.options.store,
      credentialStream(credentialId),
      initialCredentialState,
      (state, event) => evolveCredential(state, event as CredentialEvent),
    );
  }

  private async exists(stream: string): Promise<boolean> {
    for await (const _ of this.options.store.readStream(stream, { maxCount: 1 })) return true;
    return false;
  }

  private meta(context: { actor?: string; taskId?: string; time?: Date }) {
    return makeMetadata({ gatewayInstance: this.options.gatewayInstance, ...context });
  }
}
