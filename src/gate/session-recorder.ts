import { type EventInput, makeMetadata, type NewEvent, newEvent, sessionStream } from "../events/index.ts";
import type { EventStore } from "../eventstore/port.ts";

export interface PendingRecord {
  event: NewEvent;
  resolve(): void;
  reject(error: Error): void;
}

/** What the recorder needs of a gate session. */
export interface RecordedSession {
  sessionId: string;
  principal: { subject: string; credential?: { taskId: string } };
  /** CommandCompleted events not yet appended: they ride along with the session's next append. */
  unrecorded: PendingRecord[];
  flushTimer?: NodeJS.Timeout;
}

/** An idle session's completions are appended after this long; a busy one's join its next decision. */
const COMPLETION_FLUSH_MS = 20;

/**
 * Writes a session's stream: each append carries the completions recorded since the last one,
 * so a command's CommandCompleted and the next command's CommandDecided share one commit (the
 * hot path's only fsync).
 */
export class SessionRecorder {
  constructor(
    private readonly store: EventStore,
    private readonly gatewayInstance: string,
  ) {}

  record<T extends "SessionStarted" | "CommandDecided" | "OutputRecorded" | "SessionEnded">(
    session: RecordedSession,
    type: T,
    data: EventInput<T>,
  ): Promise<void> {
    return this.append(session, [newEvent(type, data, this.metadata(session))]);
  }

  /** Resolves once the completion is durable: with the next append, or after a short idle delay. */
  complete(session: RecordedSession, data: EventInput<"CommandCompleted">): Promise<void> {
    const event = newEvent("CommandCompleted", data, this.metadata(session));
    return new Promise((resolve, reject) => {
      session.unrecorded.push({ event, resolve, reject });
      session.flushTimer ??= setTimeout(() => {
        session.flushTimer = undefined;
        this.append(session, []).catch(() => {});
      }, COMPLETION_FLUSH_MS);
    });
  }

  /** Appends `events` after the session's unrecorded completions, in one commit. */
  private async append(session: RecordedSession, events: NewEvent[]): Promise<void> {
    const carried = session.unrecorded.splice(0);
    if (session.flushTimer) {
      clearTimeout(session.flushTimer);
      session.flushTimer = undefined;
    }
    if (carried.length === 0 && events.length === 0) return;
    try {
      await this.store.append(sessionStream(session.sessionId), [...carried.map((p) => p.event), ...events]);
    } catch (error) {
      // The completions are not lost with the failed append: they wait for the next one.
      session.unrecorded.unshift(...carried);
      throw error;
    }
    for (const pending of carried) pending.resolve();
  }

  private metadata(session: RecordedSession) {
    return makeMetadata({
      gatewayInstance: this.gatewayInstance,
      actor: session.principal.subject,
      sessionId: session.sessionId,
      taskId: session.principal.credential?.taskId,
    });
  }
}
