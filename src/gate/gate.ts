import { randomUUID } from "node:crypto";
import type { ClassifiedCommand } from "../domain/policy/command.ts";
import { decide, type PolicySnapshot } from "../domain/policy/decide.ts";
import type { AccessLevel } from "../domain/policy/document.ts";
import { globMatch } from "../domain/policy/match.ts";
import { isSluiceError, SluiceError } from "../errors.ts";
import type { EventData, EventInput } from "../events/index.ts";
import type { EventStore } from "../eventstore/port.ts";
import { isGatewayCredential } from "../identity/gateway-token.ts";
import type { ApprovalService } from "./approvals.ts";
import { capToCredential } from "./credential-scope.ts";
import type { CredentialWatch } from "./credential-watches.ts";
import type { CredentialService } from "./credentials.ts";
import { type Grants, grantKey, TaskGrants } from "./grants.ts";
import { inputRedactor } from "./masking/profiles.ts";
import type { GateMetrics } from "./metrics.ts";
import { type PendingRecord, SessionRecorder } from "./session-recorder.ts";

/**
 * The one entry point every proxy calls: authenticate, open a session, decide each command
 * (allow, deny or hold), record its completion, close the session. The gate records; the
 * proxies only speak their protocol. Fail closed: a command is allowed only once its
 * CommandDecided event is durable; if the log cannot take it, the command is denied.
 */

export interface Principal {
  subject: string;
  groups: string[];
  issuer?: string;
  /** Targets (globs) a static API key is limited to. */
  apiKeyScope?: string[];
  /** Set when the agent presented a sub-task credential: its scope binds the session. */
  credential?: { credentialId: string; target: string; access: AccessLevel; taskId: string };
}

export interface Session {
  sessionId: string;
  principal: Principal;
  target: string;
  protocol: ClassifiedCommand["protocol"];
  startedAt: number;
  pendingApprovals: Set<string>;
  /** Approvals that cover identical re-runs until `until` (policy `reuseWithin`): the session's, or its task's. */
  grants: Grants;
  /** The presented credential's live state (revocation), when the agent signed in with one. */
  watch?: CredentialWatch;
  /** CommandCompleted events not yet appended: they ride along with the session's next append. */
  unrecorded: PendingRecord[];
  flushTimer?: NodeJS.Timeout;
}

export type Verdict =
  | { kind: "allow"; commandId: string; rule: string | null; masking?: string }
  | { kind: "deny"; commandId: string; rule: string | null; reason: string }
  | {
      kind: "hold";
      commandId: string;
      approvalId: string;
      rule: string;
      /** Resolves when the approval ends: allow on grant, deny on deny, expiry or cancel. */
      wait(signal?: AbortSignal): Promise<Extract<Verdict, { kind: "allow" | "deny" }>>;
    };

export interface GateOptions {
  store: EventStore;
  policy: () => PolicySnapshot | null;
  credentials: CredentialService;
  approvals: ApprovalService;
  /** Verifies OIDC tokens; absent when the gateway accepts only its own credentials. */
  verifyOidc?: (token: string) => Promise<{ subject: string; groups: string[]; issuer: string }>;
  /** Verifies static API keys (`sluice_…`); absent when none are configured. */
  verifyApiKey?: (key: string) => { keyId: string; subject: string; groups: string[]; scope?: string[] };
  gatewayInstance: string;
  /** Prometheus counters and timings; none when absent. */
  metrics?: GateMetrics;
  now?: () => Date;
}

export class Gate {
  /** Grants with a reuse window, shared by the sessions of one task (in this gateway instance). */
  private readonly taskGrants = new TaskGrants();
  private readonly recorder: SessionRecorder;

  constructor(private readonly options: GateOptions) {
    this.recorder = new SessionRecorder(options.store, options.gatewayInstance);
  }

  /** A gateway credential or an OIDC token; refusals are UNAUTHENTICATED with a reason. */
  async authenticate(secret: string): Promise<Principal> {
    if (isGatewayCredential(secret)) {
      const claims = await this.options.credentials.authenticate(secret);
      return {
        subject: claims.subject,
        groups: claims.groups,
        credential: {
          credentialId: claims.credentialId,
          target: claims.target,
          access: claims.access as AccessLevel,
          taskId: claims.taskId,
        },
      };
    }
    if (secret.startsWith("sluice_")) {
      if (!this.options.verifyApiKey)
        throw new SluiceError("UNAUTHENTICATED", "API keys are not configured on this gateway", {
          reason: "unknown_api_key",
        });
      const key = this.options.verifyApiKey(secret);
      return { subject: key.subject, groups: key.groups, ...(key.scope ? { apiKeyScope: key.scope } : {}) };
    }
    if (!this.options.verifyOidc) {
      throw new SluiceError("UNAUTHENTICATED", "only gateway credentials are accepted here", {
        reason: "malformed",
      });
    }
    return this.options.verifyOidc(secret);
  }

  async openSession(input: {
    principal: Principal;
    target: string;
    protocol: ClassifiedCommand["protocol"];
    client: { address: string; application?: string };
  }): Promise<Session> {
    const { principal, target } = input;
    if (principal.credential && principal.credential.target !== target) {
      throw new SluiceError(
        "FORBIDDEN",
        `this credential is for ${principal.credential.target}, not ${target}`,
      );
    }
    if (principal.apiKeyScope && !globMatch(principal.apiKeyScope, target)) {
      throw new SluiceError("FORBIDDEN", `this API key is not for target ${target}`);
    }
    const session: Session = {
      sessionId: randomUUID(),
      principal,
      target,
      protocol: input.protocol,
      startedAt: this.now().getTime(),
      pendingApprovals: new Set(),
      grants: this.taskGrants.for(principal.credential?.taskId),
      unrecorded: [],
    };
    if (principal.credential)
      session.watch = await this.options.credentials.watch(principal.credential.credentialId);
    const credentialId = principal.credential?.credentialId;
    await this.recorder.record(session, "SessionStarted", {
      sessionId: session.sessionId,
      protocol: input.protocol,
      target,
      identity: { subject: principal.subject, groups: principal.groups, issuer: principal.issuer },
      client: input.client,
      ...(credentialId ? { credentialId, taskId: principal.credential?.taskId } : {}),
    });
    this.options.metrics?.sessionOpened(session);
    return session;
  }

  /** `parameters`: bound values sent with the statement (PostgreSQL extended protocol), recorded with it. */
  async decide(
    session: Session,
    command: ClassifiedCommand,
    parameters?: (string | null)[],
  ): Promise<Verdict> {
    const started = performance.now();
    const verdict = await this.verdictFor(session, command, parameters);
    this.options.metrics?.decided(command.protocol, verdict.kind, (performance.now() - started) / 1000);
    return verdict;
  }

  private async verdictFor(
    session: Session,
    command: ClassifiedCommand,
    parameters?: (string | null)[],
  ): Promise<Verdict> {
    const commandId = randomUUID();
    const refuse = (reason: string, rule: string | null = null): Verdict => ({
      kind: "deny",
      commandId,
      rule,
      reason,
    });
    // A revoked or expired credential is refused at the next command, not only at sign-in.
    const credential = session.principal.credential;
    if (credential) {
      const state = session.watch
        ? session.watch.state()
        : await this.options.credentials.state(credential.credentialId).catch(() => null);
      if (state?.status !== "active" || Date.parse(state.expiresAt) <= this.now().getTime()) {
        return refuse(
          `credential ${state?.status === "revoked" ? "revoked" : "expired or unavailable"}: the session must end`,
        );
      }
    }
    const policy = this.options.policy();
    let decision = policy
      ? decide({
          identity: { subject: session.principal.subject, groups: session.principal.groups },
          target: session.target,
          command,
          policy,
          session: credential ? { access: credential.access } : undefined,
          now: this.now(),
        })
      : { decision: "deny" as const, rule: null, reason: "no policy is published", policyVersion: 0 };
    decision = capToCredential(decision, command, credential?.access);
    // A grant covers that exact command once, unless policy lets it cover re-runs for a while.
    const reuse = decision.approval?.reuseWithinMs
      ? session.grants.get(grantKey(decision.rule, command))
      : undefined;
    if (decision.decision === "require_approval" && reuse && reuse.until > this.now().getTime()) {
      decision = {
        ...decision,
        decision: "allow",
        reason: `covered by approval ${reuse.approvalId} of this exact command`,
      };
    }
    const approvalId =
      decision.decision === "require_approval"
        ? randomUUID()
        : reuse && decision.decision === "allow"
          ? reuse.approvalId
          : undefined;
    // What the agent sent is recorded through the decision's content detectors: its literals may carry secrets.
    const redact = inputRedactor(policy, decision.masking);
    try {
      const recording = performance.now();
      await this.recorder.record(session, "CommandDecided", {
        sessionId: session.sessionId,
        commandId,
        protocol: command.protocol,
        command: redact(command.text),
        ...(parameters ? { parameters: parameters.map((p) => (p === null ? null : redact(p))) } : {}),
        classification: classificationOf(command),
        decision: decision.decision,
        rule: decision.rule,
        reason: decision.reason,
        policyVersion: decision.policyVersion,
        ...(approvalId ? { approvalId } : {}),
      });
      this.options.metrics?.recorded(command.protocol, (performance.now() - recording) / 1000);
    } catch (error) {
      return refuse(
        `the audit log cannot record this decision, so the command is refused (${messageOf(error)})`,
      );
    }
    if (decision.decision === "deny") return refuse(decision.reason, decision.rule);
    if (decision.decision === "allow") {
      return {
        kind: "allow",
        commandId,
        rule: decision.rule,
        ...(decision.masking ? { masking: decision.masking } : {}),
      };
    }
    return this.hold(session, command, redact(command.text), commandId, approvalId as string, decision);
  }

  /**
   * Records a command's completion. It is appended with the session's next decision (one
   * commit for both) or after a short idle delay; the promise resolves once it is durable.
   */
  complete(
    session: Session,
    commandId: string,
    outcome: Omit<EventInput<"CommandCompleted">, "sessionId" | "commandId">,
  ): Promise<void> {
    const masked = outcome.masked?.reduce((sum, m) => sum + m.count, 0) ?? 0;
    this.options.metrics?.commandCompleted(session.protocol, outcome.status, masked);
    return this.recorder.complete(session, { sessionId: session.sessionId, commandId, ...outcome });
  }

  /** Appends timed, already masked terminal chunks (shell recording) to the session stream. */
  async recordOutput(session: Session, chunks: EventInput<"OutputRecorded">["chunks"]): Promise<void> {
    await this.recorder.record(session, "OutputRecorded", { sessionId: session.sessionId, chunks });
  }

  /** The agent no longer waits for this held command (it left, or was answered "pending"): cancel its approval. */
  async cancelApproval(session: Session, approvalId: string, reason: string): Promise<void> {
    if (!session.pendingApprovals.delete(approvalId)) return;
    await this.options.approvals.cancel(approvalId, reason);
  }

  /** Ends the session; approvals it still waits for are cancelled. */
  async closeSession(session: Session, reason: string): Promise<void> {
    for (const approvalId of session.pendingApprovals) {
      await this.options.approvals.cancel(approvalId, `session ended: ${reason}`).catch(() => {});
    }
    session.watch?.release();
    this.options.metrics?.sessionClosed(session);
    this.taskGrants.prune(session.principal.credential?.taskId, this.now().getTime());
    await this.recorder.record(session, "SessionEnded", {
      sessionId: session.sessionId,
      reason,
      durationMs: this.now().getTime() - session.startedAt,
    });
  }

  private async hold(
    session: Session,
    command: ClassifiedCommand,
    recorded: string,
    commandId: string,
    approvalId: string,
    decision: ReturnType<typeof decide>,
  ): Promise<Verdict> {
    const approval = decision.approval as NonNullable<typeof decision.approval>;
    try {
      await this.options.approvals.request({
        approvalId,
        requester: { subject: session.principal.subject, groups: session.principal.groups, kind: "agent" },
        sessionId: session.sessionId,
        taskId: session.principal.credential?.taskId,
        target: session.target,
        command: recorded,
        classification: classificationOf(command),
        rule: decision.rule as string,
        policyVersion: decision.policyVersion,
        approverGroups: approval.groups,
        quorum: approval.quorum,
        anyDenyEnds: true,
        expiresAt: new Date(this.now().getTime() + approval.timeoutMs).toISOString(),
      });
    } catch (error) {
      return {
        kind: "deny",
        commandId,
        rule: decision.rule,
        reason: `the approval request could not be recorded (${messageOf(error)})`,
      };
    }
    session.pendingApprovals.add(approvalId);
    if (approval.autoApprove) {
      // Inside the rule's window policy approves by itself, as a vote naming the rule, so the log shows who allowed it.
      await this.options.approvals.autoApprove(approvalId, decision.rule as string).catch(() => {});
    }
    return {
      kind: "hold",
      commandId,
      approvalId,
      rule: decision.rule as string,
      wait: async (signal) => {
        try {
          const outcome = await this.options.approvals.outcome(approvalId, signal);
          if (outcome.status === "granted") {
            const window = decision.approval?.reuseWithinMs;
            if (window)
              session.grants.set(grantKey(decision.rule, command), {
                approvalId,
                until: this.now().getTime() + window,
              });
            return {
              kind: "allow",
              commandId,
              rule: decision.rule,
              ...(decision.masking ? { masking: decision.masking } : {}),
            };
          }
          return {
            kind: "deny",
            commandId,
            rule: decision.rule,
            reason: `approval ${outcome.status}: ${outcome.reason}`,
          };
        } catch (error) {
          // The agent gave up (cancel, disconnect): nobody should be asked to approve it any more.
          if (signal?.aborted)
            await this.options.approvals
              .cancel(approvalId, "the agent cancelled the statement")
              .catch(() => {});
          return {
            kind: "deny",
            commandId,
            rule: decision.rule,
            reason: `approval wait ended: ${messageOf(error)}`,
          };
        } finally {
          session.pendingApprovals.delete(approvalId);
        }
      },
    };
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }
}

function classificationOf(command: ClassifiedCommand): EventData<"CommandDecided">["classification"] {
  if (command.protocol === "postgres") return { ...command.sql };
  if (command.protocol === "ssh") return { ...command.ssh };
  return { ...command.http };
}

function messageOf(error: unknown): string {
  return isSluiceError(error) ? error.code : (error as Error).message;
}
