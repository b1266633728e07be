import { randomUUID } from "node:crypto";
import type { ClassifiedCommand } from "../domain/policy/command.ts";
import { decide, type PolicySnapshot } from "../domain/policy/decide.ts";
import type { AccessLevel } from "../domain/policy/document.ts";
import { globMatch } from "../domain/policy/match.ts";
import { isSluiceError, SluiceError } from "../errors.ts";
import {
  type EventData,
  type EventInput,
  makeMetadata,
  type NewEvent,
  newEvent,
  sessionStream,
} from "../events/index.ts";
import type { EventStore } from "../eventstore/port.ts";
import { isGatewayCredential } from "../identity/gateway-token.ts";
import type { ApprovalService } from "./approvals.ts";
import type { CredentialWatch } from "./credential-watches.ts";
import type { CredentialService } from "./credentials.ts";
import { type ContentRule, maskText } from "./masking/index.ts";
import { maskingProfile } from "./masking/profiles.ts";

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
  grants: Map<string, { approvalId: string; until: number }>;
  /** The presented credential's live state (revocation), when the agent signed in with one. */
  watch?: CredentialWatch;
  /** CommandCompleted events not yet appended: they ride along with the session's next append. */
  unrecorded: PendingRecord[];
  flushTimer?: NodeJS.Timeout;
}

interface PendingRecord {
  event: NewEvent;
  resolve(): void;
  reject(error: Error): void;
}

/** An idle session's completions are appended after this long; a busy one's join its next decision. */
const COMPLETION_FLUSH_MS = 20;

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
  now?: () => Date;
}

export class Gate {
  /** Grants with a reuse window, shared by the sessions of one task (in this gateway instance). */
  private readonly taskGrants = new Map<string, Session["grants"]>();

  constructor(private readonly options: GateOptions) {}

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
      grants: this.grantsFor(principal.credential?.taskId),
      unrecorded: [],
    };
    if (principal.credential)
      session.watch = await this.options.credentials.watch(principal.credential.credentialId);
    const credentialId = principal.credential?.credentialId;
    await this.record(session, "SessionStarted", {
      sessionId: session.sessionId,
      protocol: input.protocol,
      target,
      identity: { subject: principal.subject, groups: principal.groups, issuer: principal.issuer },
      client: input.client,
      ...(credentialId ? { credentialId, taskId: principal.credential?.taskId } : {}),
    });
    return session;
  }

  /** `parameters`: bound values sent with the statement (PostgreSQL extended protocol), recorded with it. */
  async decide(
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
      await this.record(session, "CommandDecided", {
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
   * commit for both, the hot path's only fsync) or after a short idle delay; the promise
   * resolves once it is durable.
   */
  complete(
    session: Session,
    commandId: string,
    outcome: Omit<EventInput<"CommandCompleted">, "sessionId" | "commandId">,
  ): Promise<void> {
    const event = newEvent(
      "CommandCompleted",
      { sessionId: session.sessionId, commandId, ...outcome },
      this.metadata(session),
    );
    return new Promise((resolve, reject) => {
      session.unrecorded.push({ event, resolve, reject });
      session.flushTimer ??= setTimeout(() => {
        session.flushTimer = undefined;
        this.append(session, []).catch(() => {});
      }, COMPLETION_FLUSH_MS);
    });
  }

  /** Appends timed, already masked terminal chunks (shell recording) to the session stream. */
  async recordOutput(session: Session, chunks: EventInput<"OutputRecorded">["chunks"]): Promise<void> {
    await this.record(session, "OutputRecorded", { sessionId: session.sessionId, chunks });
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
    this.pruneGrants(session.principal.credential?.taskId);
    await this.record(session, "SessionEnded", {
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

  private record<T extends "SessionStarted" | "CommandDecided" | "OutputRecorded" | "SessionEnded">(
    session: Session,
    type: T,
    data: EventInput<T>,
  ): Promise<void> {
    return this.append(session, [newEvent(type, data, this.metadata(session))]);
  }

  /** Appends `events` after the session's unrecorded completions, in one commit. */
  private async append(session: Session, events: NewEvent[]): Promise<void> {
    const carried = session.unrecorded.splice(0);
    if (session.flushTimer) {
      clearTimeout(session.flushTimer);
      session.flushTimer = undefined;
    }
    if (carried.length === 0 && events.length === 0) return;
    try {
      await this.options.store.append(sessionStream(session.sessionId), [
        ...carried.map((p) => p.event),
        ...events,
      ]);
    } catch (error) {
      // The completions are not lost with the failed append: they wait for the next one.
      session.unrecorded.unshift(...carried);
      throw error;
    }
    for (const pending of carried) pending.resolve();
  }

  /** A sub-task's sessions share its grants: an approved re-run is covered in any of them within the window. */
  private grantsFor(taskId: string | undefined): Session["grants"] {
    if (!taskId) return new Map();
    let grants = this.taskGrants.get(taskId);
    if (!grants) {
      grants = new Map();
      this.taskGrants.set(taskId, grants);
    }
    return grants;
  }

  private pruneGrants(taskId: string | undefined): void {
    const grants = taskId ? this.taskGrants.get(taskId) : undefined;
    if (!grants || !taskId) return;
    const now = this.now().getTime();
    for (const [key, grant] of grants) if (grant.until <= now) grants.delete(key);
    if (grants.size === 0) this.taskGrants.delete(taskId);
  }

  private metadata(session: Session) {
    return makeMetadata({
      gatewayInstance: this.options.gatewayInstance,
      actor: session.principal.subject,
      sessionId: session.sessionId,
      taskId: session.principal.credential?.taskId,
    });
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

const asIs = (text: string) => text;

function inputRedactor(policy: PolicySnapshot | null, masking: string | undefined): (text: string) => string {
  let rules: ContentRule[] | undefined;
  try {
    rules = maskingProfile(policy, masking)?.contentRules;
  } catch {
    rules = undefined; // an undefined profile is the proxy's refusal to make; the record stays as sent
  }
  if (!rules || rules.length === 0) return asIs;
  const active = rules;
  return (text) => maskText(text, active).text;
}

function grantKey(rule: string | null, command: ClassifiedCommand): string {
  return `${rule}\u0000${command.text}`;
}

function messageOf(error: unknown): string {
  return isSluiceError(error) ? error.code : (error as Error).message;
}
