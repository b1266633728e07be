import { isSluiceError } from "../errors.ts";
import type { Subscription } from "./port.ts";

/**
 * Wakes subscribers when the log may have grown. `version` only ever increases, so a
 * subscriber that read nothing can tell whether it missed a notification meanwhile.
 */
export class ChangeSignal {
  version = 0;
  private waiters = new Set<() => void>();

  notify(): void {
    this.version += 1;
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  /** Resolves on the next notify after `seenVersion`, or after `timeoutMs` as a safety net. */
  wait(seenVersion: number, timeoutMs: number): Promise<void> {
    if (this.version !== seenVersion) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      this.waiters.add(done);
    });
  }
}

/**
 * Catch-up then live, for engines whose positions are gap-free in commit order: keep
 * reading pages after the last item seen; when a page is empty, sleep until the signal
 * says the log grew. The switch to live is the same query as catching up, so there is no
 * gap and no duplicate.
 */
export function liveSubscription<T>(
  fetchNextPage: () => Promise<T[]>,
  signal: ChangeSignal,
  pollMs: number,
): Subscription<T> {
  let closed = false;

  async function* run(): AsyncGenerator<T> {
    let outage = 0;
    while (!closed) {
      const seen = signal.version;
      let page: T[];
      try {
        page = await fetchNextPage();
        outage = 0;
      } catch (error) {
        // A store outage is waited out (backing off up to 5 s) from the same cursor; anything
        // else, such as a malformed stored event, ends the subscription with its error.
        if (!isSluiceError(error, "STORE_UNAVAILABLE")) throw error;
        outage += 1;
        await signal.wait(signal.version, Math.min(pollMs * 2 ** outage, 5000));
        continue;
      }
      if (page.length === 0) {
        await signal.wait(seen, pollMs);
        continue;
      }
      for (const item of page) {
        if (closed) return;
        yield item;
      }
    }
  }

  const iterator = run();
  return {
    [Symbol.asyncIterator]: () => iterator,
    async close() {
      closed = true;
      // Wakes every subscriber on this signal; the others just find nothing new.
      signal.notify();
    },
  };
}
