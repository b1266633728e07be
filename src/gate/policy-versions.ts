import type { PolicySnapshot } from "../domain/policy/decide.ts";
import { policyDocument } from "../domain/policy/document.ts";
import { parsePolicyFiles } from "../domain/policy/parse.ts";
import {
  evolvePolicy,
  initialPolicyState,
  type PolicyState,
  publishPolicy,
} from "../domain/policy/publish.ts";
import { SluiceError } from "../errors.ts";
import { type IdentityRef, makeMetadata, newEvent, POLICY_STREAM } from "../events/index.ts";
import { foldStream } from "../eventstore/fold.ts";
import type { EventStore, RecordedEvent, Subscription } from "../eventstore/port.ts";

/** Policy versions in the log: apply a new one, read one back, and follow the current one live. */

export function readPolicyState(
  store: EventStore,
): Promise<{ state: PolicyState; revision: bigint | "no_stream" }> {
  return foldStream(store, POLICY_STREAM, initialPolicyState, (state, event) =>
    event.type === "PolicyVersionPublished" ? evolvePolicy(state, event.data) : state,
  );
}

export interface ApplyResult {
  published: boolean;
  version: number;
  diff: string[];
}

/** Validates the files and publishes them as the next version; an identical document is a no-op. */
export async function applyPolicy(
  store: EventStore,
  files: { file: string; text: string }[],
  author: IdentityRef,
  gatewayInstance: string,
): Promise<ApplyResult> {
  const { source } = parsePolicyFiles(files);
  const { state, revision } = await readPolicyState(store);
  const data = publishPolicy(state, { source, author });
  if (!data) return { published: false, version: state.version, diff: [] };
  const event = newEvent(
    "PolicyVersionPublished",
    data,
    makeMetadata({ gatewayInstance, actor: author.subject }),
  );
  // The exact revision read: two concurrent applies cannot both become version N.
  await store.append(POLICY_STREAM, [event], { expectedRevision: revision });
  return { published: true, version: data.version, diff: data.diff };
}

/** The published document of one version (default: the current one), as stored. */
export async function readPolicyVersion(
  store: EventStore,
  version?: number,
): Promise<{ version: number; document: Record<string, unknown>; author: IdentityRef; time: string } | null> {
  let found: RecordedEvent | null = null;
  for await (const event of store.readStream(POLICY_STREAM)) {
    if (event.type !== "PolicyVersionPublished") continue;
    if (version === undefined || event.data.version === version) found = event;
  }
  if (found?.type !== "PolicyVersionPublished") return null;
  return {
    version: found.data.version,
    document: found.data.document,
    author: found.data.author,
    time: found.metadata.time,
  };
}

/**
 * The gateway's in-memory policy snapshot: caught up from the log at start, then following
 * new versions live (from any process or instance), without restart.
 */
export class PolicyFollower {
  private snapshot: PolicySnapshot | null = null;
  private subscription: Subscription<RecordedEvent> | null = null;
  private following: Promise<void> | null = null;
  private readonly listeners = new Set<(snapshot: PolicySnapshot) => void>();

  constructor(private readonly store: EventStore) {}

  /** Resolves once every version already in the log is applied. */
  async start(): Promise<void> {
    const { state, revision } = await readPolicyState(this.store);
    if (state.source) this.apply(state.version, state.source);
    this.subscription = this.store.subscribeStream(POLICY_STREAM, {
      fromRevision: revision === "no_stream" ? 0n : revision + 1n,
    });
    const subscription = this.subscription;
    this.following = (async () => {
      for await (const event of subscription) {
        if (event.type === "PolicyVersionPublished") this.apply(event.data.version, event.data.document);
      }
    })();
  }

  current(): PolicySnapshot | null {
    return this.snapshot;
  }

  /** Resolves once the live snapshot is at least `version` (e.g. right after publishing it). */
  async waitForVersion(version: number, timeoutMs = 10_000): Promise<PolicySnapshot> {
    const reached = () => (this.snapshot && this.snapshot.version >= version ? this.snapshot : null);
    const now = reached();
    if (now) return now;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(
          new SluiceError("INTERNAL", `policy version ${version} did not arrive within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      const off = this.onChange(() => {
        const snapshot = reached();
        if (!snapshot) return;
        clearTimeout(timer);
        off();
        resolve(snapshot);
      });
    });
  }

  onChange(listener: (snapshot: PolicySnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    await this.subscription?.close();
    await this.following;
  }

  /** Set when a published version failed to validate here; the last good snapshot stays in force. */
  lastError: SluiceError | null = null;

  private apply(version: number, source: Record<string, unknown>): void {
    const parsed = policyDocument.safeParse(source);
    if (!parsed.success) {
      this.lastError = new SluiceError("CONFIG_INVALID", `policy version ${version} does not validate`);
      return;
    }
    this.lastError = null;
    this.snapshot = { version, document: parsed.data };
    for (const listener of this.listeners) listener(this.snapshot);
  }
}
