import {
  type CredentialEvent,
  type CredentialState,
  evolveCredential,
  initialCredentialState,
} from "../domain/credential.ts";
import { credentialStream } from "../events/index.ts";
import type { EventStore } from "../eventstore/port.ts";

export interface CredentialWatch {
  state(): CredentialState;
  /** Called when the state changes (revoked, expired): proxies end the sessions that use it. */
  onChange(listener: (state: CredentialState) => void): void;
  release(): void;
}

interface WatchEntry {
  state: CredentialState;
  listeners: Set<(state: CredentialState) => void>;
  refs: number;
  ready: Promise<void>;
  subscription?: { close(): Promise<void> };
}

/**
 * Credentials' states kept current by a subscription to each one's stream, shared by every
 * session that uses it: the hot path checks revocation without a read per command. A revocation
 * appended by another instance is seen within the store's notification delay.
 */
export class CredentialWatches {
  private readonly entries = new Map<string, WatchEntry>();

  constructor(
    private readonly store: EventStore,
    private readonly load: (
      credentialId: string,
    ) => Promise<{ state: CredentialState; revision: bigint | "no_stream" }>,
  ) {}

  async watch(credentialId: string): Promise<CredentialWatch> {
    let entry = this.entries.get(credentialId);
    if (!entry) {
      const created = this.start(credentialId);
      entry = created;
      this.entries.set(credentialId, created);
      created.ready.catch(() => this.entries.delete(credentialId));
    }
    await entry.ready;
    entry.refs += 1;
    const watched = entry;
    let released = false;
    const mine: ((state: CredentialState) => void)[] = [];
    return {
      state: () => watched.state,
      onChange: (listener) => {
        mine.push(listener);
        watched.listeners.add(listener);
      },
      release: () => {
        if (released) return;
        released = true;
        for (const listener of mine) watched.listeners.delete(listener);
        watched.refs -= 1;
        if (watched.refs > 0) return;
        this.entries.delete(credentialId);
        void watched.subscription?.close();
      },
    };
  }

  /** An event this instance just appended: its sessions see it at once, before the subscription does. */
  apply(credentialId: string, event: CredentialEvent): void {
    const entry = this.entries.get(credentialId);
    if (entry) this.update(entry, evolveCredential(entry.state, event));
  }

  private update(entry: WatchEntry, state: CredentialState): void {
    if (state === entry.state) return;
    entry.state = state;
    for (const listener of entry.listeners) listener(state);
  }

  private start(credentialId: string): WatchEntry {
    const entry: WatchEntry = {
      state: initialCredentialState,
      listeners: new Set(),
      refs: 0,
      ready: Promise.resolve(),
    };
    entry.ready = this.load(credentialId).then(({ state, revision }) => {
      entry.state = state;
      const fromRevision = revision === "no_stream" ? 0n : revision + 1n;
      const subscription = this.store.subscribeStream(credentialStream(credentialId), { fromRevision });
      entry.subscription = subscription;
      void (async () => {
        for await (const event of subscription)
          this.update(entry, evolveCredential(entry.state, event as CredentialEvent));
      })().catch(() => {
        // The store closed: a watch that stops following fails closed at the next check.
        entry.state = initialCredentialState;
      });
    });
    return entry;
  }
}
