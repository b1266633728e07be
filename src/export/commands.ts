import { LRUCache } from "lru-cache";
import type { EventData, IdentityRef, Protocol } from "../events/index.ts";
import type { RawEvent } from "../eventstore/port.ts";

/**
 * The join behind the CSV and OCSF exports: one record per command decision, carrying the
 * session it ran in (agent, target, client) and its completion. A decision is held until its
 * CommandCompleted or its session's end arrives, so records come out in completion order.
 * Memory is bounded: sessions in an LRU (a miss asks the store), held decisions capped.
 */

export interface SessionInfo {
  sessionId: string;
  identity: IdentityRef;
  target: string;
  protocol: Protocol;
  client: { address: string; application?: string };
  credentialId?: string;
  taskId?: string;
  /** When the session started (ISO), where known. */
  startedAt?: string;
}

/** What every exported record names of the event it comes from. */
export interface EventRef {
  position: bigint;
  hash: string;
  eventId: string;
  time: string;
  gatewayInstance: string;
  actor?: string;
}

export interface DecidedCommand {
  ref: EventRef;
  data: EventData<"CommandDecided">;
  session: SessionInfo | undefined;
}

export interface CompletedCommand {
  ref: EventRef;
  data: EventData<"CommandCompleted">;
}

export type SessionLookup = (sessionId: string) => Promise<SessionInfo | undefined>;

const HELD_LIMIT = 10_000;

export function eventRef(event: RawEvent): EventRef {
  const metadata = event.metadata as {
    eventId: string;
    time: string;
    gatewayInstance: string;
    actor?: string;
  };
  return {
    position: event.position,
    hash: event.hash,
    eventId: metadata.eventId,
    time: metadata.time,
    gatewayInstance: metadata.gatewayInstance,
    actor: metadata.actor,
  };
}

export function sessionInfo(data: EventData<"SessionStarted">, startedAt?: string): SessionInfo {
  return {
    sessionId: data.sessionId,
    identity: data.identity,
    target: data.target,
    protocol: data.protocol,
    client: data.client,
    credentialId: data.credentialId,
    taskId: data.taskId,
    startedAt,
  };
}

export class CommandJoin {
  private readonly sessions = new LRUCache<string, SessionInfo>({ max: 20_000 });
  /** Decisions awaiting completion, by session then command (sessions in the order they first held one). */
  private readonly held = new Map<string, Map<string, DecidedCommand>>();
  private heldCount = 0;

  constructor(
    private readonly lookup: SessionLookup,
    private readonly onCommand: (decided: DecidedCommand, completed: CompletedCommand | undefined) => void,
  ) {}

  sessionStarted(info: SessionInfo): void {
    this.sessions.set(info.sessionId, info);
  }

  /** The session's facts: cached, else asked of the store (a promise only then). */
  session(sessionId: string): SessionInfo | undefined | Promise<SessionInfo | undefined> {
    const cached = this.sessions.get(sessionId);
    if (cached) return cached;
    return this.lookup(sessionId).then((info) => {
      if (info) this.sessions.set(sessionId, info);
      return info;
    });
  }

  /** CommandDecided / CommandCompleted of the log, joined into one record per command; other events are ignored. */
  consume(event: RawEvent): Promise<void> | undefined {
    if (event.type === "CommandCompleted") {
      this.completed({ ref: eventRef(event), data: event.data as EventData<"CommandCompleted"> });
      return undefined;
    }
    if (event.type !== "CommandDecided") return undefined;
    const data = event.data as EventData<"CommandDecided">;
    const ref = eventRef(event);
    const session = this.session(data.sessionId);
    if (!(session instanceof Promise)) {
      this.decided({ ref, data, session });
      return undefined;
    }
    return session.then((info) => this.decided({ ref, data, session: info }));
  }

  decided(command: DecidedCommand): void {
    let commands = this.held.get(command.data.sessionId);
    if (!commands) {
      commands = new Map();
      this.held.set(command.data.sessionId, commands);
    }
    commands.set(command.data.commandId, command);
    this.heldCount += 1;
    // Sessions that never completed their commands (a crash) must not grow the held set forever.
    if (this.heldCount > HELD_LIMIT) {
      const oldest = this.held.keys().next().value as string;
      this.release(oldest);
    }
  }

  completed(completed: CompletedCommand): void {
    const commands = this.held.get(completed.data.sessionId);
    const decided = commands?.get(completed.data.commandId);
    // A completion whose decision lies before the export's range has no record of its own.
    if (!commands || !decided) return;
    commands.delete(completed.data.commandId);
    this.heldCount -= 1;
    if (commands.size === 0) this.held.delete(completed.data.sessionId);
    this.onCommand(decided, completed);
  }

  /** Commands still held for the session come out without a completion. */
  sessionEnded(sessionId: string): void {
    // The session's facts are left to age out of the LRU: its delete costs O(max) when it empties the cache.
    this.release(sessionId);
  }

  finish(): void {
    for (const sessionId of [...this.held.keys()]) this.release(sessionId);
  }

  private release(sessionId: string): void {
    const commands = this.held.get(sessionId);
    if (!commands) return;
    this.held.delete(sessionId);
    this.heldCount -= commands.size;
    for (const decided of commands.values()) this.onCommand(decided, undefined);
  }
}
