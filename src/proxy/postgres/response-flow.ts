import type { CompiledProfile } from "../../gate/masking/profile.ts";
import {
  type BackendFrame,
  decodeCommandComplete,
  decodeFields,
  decodeReadyForQuery,
  decodeRowDescription,
} from "./codec/backend.ts";
import { B } from "./codec/codes.ts";
import { errorResponse } from "./codec/server-messages.ts";
import type { Conversation, Unit } from "./conversation.ts";
import { maskServerMessage } from "./error-masking.ts";
import { maskNotification } from "./notification-masking.ts";
import type { ResultStream } from "./result-stream.ts";

const EXTENDED_RESPONSE_KINDS = new Set(["parse", "bind", "close", "describe", "execute"]);

/**
 * Upstream → client: matches each frame to what the upstream owed (in order), keeps the
 * transaction status, hides the answers to messages Sluice sent itself (refusal parts, Describes,
 * search_path probes), and hands result rows to the result stream for masking and recording.
 * Frames that need no change pass as they are.
 */
export class ResponseFlow {
  /**
   * The masking profile of the latest command the upstream answered: notifications arrive
   * between commands too. Never reset to none by a command without a verdict (fail closed).
   */
  private profile: CompiledProfile | null = null;

  constructor(
    private readonly conv: Conversation,
    private readonly results: ResultStream,
  ) {}

  /** The bytes to pass to the client for one upstream frame (null: swallowed), or a promise of them. */
  frame(frame: BackendFrame): Buffer | null | Promise<Buffer | null> {
    const { code, raw } = frame;
    const head = this.conv.units[0];
    if (head !== undefined && head.kind === "probe" && head.reply.take(frame)) {
      // Sluice's own question: the agent sees none of its answer.
      if (code === B.ReadyForQuery) {
        this.conv.status = head.reply.status ?? this.conv.status;
        this.conv.shift();
      }
      return null;
    }
    switch (code) {
      case B.DataRow:
        if (this.results.open || head?.kind !== "execute") return this.results.row(raw);
        return this.beginExecuteRows(head, raw);
      case B.ParseComplete:
      case B.BindComplete:
      case B.CloseComplete:
        return this.conv.shift()?.swallow ? null : raw;
      case B.ParameterDescription:
        return head?.swallow ? null : raw;
      case B.RowDescription:
      case B.NoData:
        return this.onDescription(head, code === B.NoData ? null : raw);
      case B.CommandComplete:
      case B.EmptyQueryResponse:
      case B.PortalSuspended:
        this.onStatementDone(head, code === B.CommandComplete ? decodeCommandComplete(raw) : undefined);
        return raw;
      case B.ErrorResponse:
        return this.onError(raw);
      case B.ReadyForQuery:
        this.conv.status = decodeReadyForQuery(raw);
        this.conv.shift();
        return raw;
      case B.CopyInResponse:
        return raw;
      case B.CopyOutResponse:
        return head && (head.kind === "query" || head.kind === "execute")
          ? this.results.copyOut(head.current, raw)
          : raw;
      case B.CopyData:
        return this.results.copyData(raw);
      case B.NoticeResponse:
        return this.maskMessage(head, raw);
      case B.NotificationResponse:
        return this.onNotification(head, raw);
      default:
        // ParameterStatus, CopyDone, CopyBoth: relayed as they are.
        return raw;
    }
  }

  private onDescription(head: Unit | undefined, raw: Buffer | null): Buffer | null | Promise<Buffer | null> {
    const fields = raw ? decodeRowDescription(raw) : null;
    if (head?.kind === "describe") {
      this.conv.shift();
      if (head.target === "S") {
        const statement = this.conv.statements.get(head.name);
        if (statement) statement.fields = fields;
      } else {
        const portal = this.conv.portals.get(head.name);
        if (portal) portal.fields = fields;
      }
      return head.swallow ? null : raw;
    }
    if (head?.kind !== "query" || !fields || !raw) return raw;
    // Simple protocol: each result announces its columns in-band.
    const begun = this.results.begin(head.current, fields);
    return begun instanceof Promise ? begun.then(() => raw) : raw;
  }

  /** Extended protocol: the rows of an Execute follow no RowDescription; the portal's Describe told the columns. */
  private beginExecuteRows(head: Extract<Unit, { kind: "execute" }>, raw: Buffer): Buffer | Promise<Buffer> {
    const fields = this.conv.portals.get(head.portal)?.fields ?? [];
    const begun = this.results.begin(head.current, fields);
    return begun instanceof Promise ? begun.then(() => this.results.row(raw)) : this.results.row(raw);
  }

  /** Errors and notices of a masked statement may quote row data: see error-masking.ts. */
  private maskMessage(head: Unit | undefined, raw: Buffer): Buffer {
    const current = head?.kind === "query" || head?.kind === "execute" ? head.current : null;
    const profile = current?.profile;
    if (!current || !profile) return raw;
    return maskServerMessage(raw, current.text, {
      redactQuoted: profile.hasColumnRules,
      redactRaised: profile.hasColumnRules,
      rules: profile.contentRules,
    });
  }

  /** A payload may carry anything the sender read: content detectors run over it (see notification-masking.ts). */
  private onNotification(head: Unit | undefined, raw: Buffer): Buffer {
    const current = head?.kind === "query" || head?.kind === "execute" ? head.current : null;
    const profile = current?.profile ?? this.profile;
    if (!profile) return raw;
    // Recorded with the command in flight, if any (a notification can also arrive between commands).
    return maskNotification(
      raw,
      profile.contentRules,
      current && !current.refusal ? current.run.tally : undefined,
    );
  }

  private onStatementDone(head: Unit | undefined, tag: string | undefined): void {
    if ((head?.kind === "query" || head?.kind === "execute") && head.current.profile)
      this.profile = head.current.profile;
    if (head?.kind === "query") {
      this.results.end(head.current, tag);
      head.current.statement++;
      return;
    }
    if (head?.kind === "execute") {
      this.conv.shift();
      this.results.end(head.current, tag);
      this.conv.record(head.current);
    }
  }

  private onError(raw: Buffer): Buffer {
    const head = this.conv.units[0];
    const refusal = (head?.kind === "query" || head?.kind === "execute") && head.current.refusal;
    // A refusal is raised by a DO block upstream; the agent sees only Sluice's message, not the block's context.
    const out = refusal ? refusalError(raw) : this.maskMessage(head, raw);
    if (head?.kind === "query") {
      if (!head.current.refusal) {
        const fields = decodeFields(out);
        head.current.run.status = "error";
        head.current.run.error = { code: fields.C ?? "XX000", message: fields.M ?? "" };
      }
      return out;
    }
    if (head?.kind === "execute" && !head.current.refusal) {
      const fields = decodeFields(out);
      head.current.run.status = "error";
      head.current.run.error = { code: fields.C ?? "XX000", message: fields.M ?? "" };
      this.conv.record(head.current);
    }
    // After an error the server skips every extended message until Sync: so do its answers.
    if (head && EXTENDED_RESPONSE_KINDS.has(head.kind)) {
      while (this.conv.units.length > 0 && this.conv.units[0]?.kind !== "sync") this.conv.units.shift();
    }
    return out;
  }
}

function refusalError(raw: Buffer): Buffer {
  const fields = decodeFields(raw);
  return errorResponse({
    severity: fields.S ?? "ERROR",
    code: fields.C ?? "42501",
    message: fields.M ?? "Sluice denied this statement",
    ...(fields.H ? { hint: fields.H } : {}),
  });
}
