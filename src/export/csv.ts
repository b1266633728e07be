import type { EventData } from "../events/index.ts";
import type { RawEvent } from "../eventstore/port.ts";
import {
  CommandJoin,
  type CompletedCommand,
  type DecidedCommand,
  eventRef,
  type SessionInfo,
  sessionInfo,
} from "./commands.ts";
import type { FormatContext, FormatWriter } from "./format.ts";

/**
 * CSV (RFC 4180): one row per command decision, with its session's agent, target and client and
 * its completion. Rows come in completion order; `position` and `event_hash` tie each row to the
 * CommandDecided event in the log (and in a JSONL export of the same range).
 */

export const CSV_COLUMNS = [
  "position",
  "time",
  "session_id",
  "command_id",
  "agent",
  "target",
  "protocol",
  "client_address",
  "command",
  "decision",
  "rule",
  "reason",
  "policy_version",
  "approval_id",
  "status",
  "rows",
  "duration_ms",
  "error",
  "completed_at",
  "event_hash",
] as const;

export class CsvWriter implements FormatWriter {
  readonly file = "commands.csv";
  readonly header = CSV_COLUMNS.join(",");
  private readonly join: CommandJoin;

  constructor(context: FormatContext) {
    this.join = new CommandJoin(context.lookupSession, (decided, completed) =>
      context.emit(csvRow(decided, completed)),
    );
  }

  consume(event: RawEvent): Promise<void> | undefined {
    switch (event.type) {
      case "SessionStarted": {
        const data = event.data as EventData<"SessionStarted">;
        this.join.sessionStarted(sessionInfo(data, eventRef(event).time));
        return undefined;
      }
      case "CommandDecided":
      case "CommandCompleted":
        return this.join.consume(event);
      case "SessionEnded":
        this.join.sessionEnded((event.data as EventData<"SessionEnded">).sessionId);
        return undefined;
      default:
        return undefined;
    }
  }

  finish(): void {
    this.join.finish();
  }
}

export function csvRow(decided: DecidedCommand, completed: CompletedCommand | undefined): string {
  const { data, ref } = decided;
  const session: SessionInfo | undefined = decided.session;
  const done = completed?.data;
  return [
    ref.position.toString(),
    ref.time,
    data.sessionId,
    data.commandId,
    session?.identity.subject ?? ref.actor ?? "",
    session?.target ?? "",
    data.protocol,
    session?.client.address ?? "",
    data.command,
    data.decision,
    data.rule ?? "",
    data.reason,
    String(data.policyVersion),
    data.approvalId ?? "",
    done?.status ?? "",
    done?.rows === undefined ? "" : String(done.rows),
    done ? String(done.durationMs) : "",
    done?.error ? `${done.error.code}: ${done.error.message}` : "",
    completed?.ref.time ?? "",
    ref.hash,
  ]
    .map(csvField)
    .join(",");
}

/** RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled. Values stay as recorded. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}
