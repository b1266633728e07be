import type { EventData } from "../events/index.ts";
import type { RawEvent } from "../eventstore/port.ts";
import { CommandJoin, eventRef, type SessionInfo, sessionInfo } from "./commands.ts";
import type { FormatContext, FormatWriter } from "./format.ts";
import { commandRecord } from "./ocsf-commands.ts";
import { authentication, credentialGranted, groupsAssigned, sshConnection } from "./ocsf-map.ts";

/**
 * OCSF: one JSON record per line. Sessions become Authentication Logon/Logoff (and SSH Activity
 * Open/Close for SSH), their groups and credentials Authorize Session, and each command decision
 * with its completion a Datastore, SSH or API Activity record (docs/ocsf.md has the mapping).
 * Other events (approvals, policy, seals …) have no OCSF record: the JSONL export carries them.
 */
export class OcsfWriter implements FormatWriter {
  readonly file = "ocsf.jsonl";
  private readonly join: CommandJoin;

  constructor(private readonly context: FormatContext) {
    this.join = new CommandJoin(context.lookupSession, (decided, completed) =>
      this.emit(commandRecord(decided, completed)),
    );
  }

  consume(event: RawEvent): Promise<void> | undefined {
    switch (event.type) {
      case "SessionStarted": {
        const ref = eventRef(event);
        const session = sessionInfo(event.data as EventData<"SessionStarted">, ref.time);
        this.join.sessionStarted(session);
        this.emit(authentication(ref, session));
        for (const record of groupsAssigned(ref, session)) this.emit(record);
        if (session.protocol === "ssh") this.emit(sshConnection(ref, session));
        return undefined;
      }
      case "CredentialIssued":
        this.emit(credentialGranted(eventRef(event), event.data as EventData<"CredentialIssued">));
        return undefined;
      case "CommandDecided":
      case "CommandCompleted":
        return this.join.consume(event);
      case "SessionEnded": {
        const data = event.data as EventData<"SessionEnded">;
        const session = this.join.session(data.sessionId);
        if (!(session instanceof Promise)) {
          this.ended(event, data, session);
          return undefined;
        }
        return session.then((info) => this.ended(event, data, info));
      }
      default:
        return undefined;
    }
  }

  finish(): void {
    this.join.finish();
  }

  private ended(event: RawEvent, data: EventData<"SessionEnded">, session: SessionInfo | undefined): void {
    this.join.sessionEnded(data.sessionId);
    // A session whose start is no longer in the log (removed by retention) has no one to log off.
    if (!session) return;
    const ref = eventRef(event);
    this.emit(authentication(ref, session, data));
    if (session.protocol === "ssh") this.emit(sshConnection(ref, session, data));
  }

  private emit(record: object): void {
    this.context.emit(JSON.stringify(record));
  }
}
