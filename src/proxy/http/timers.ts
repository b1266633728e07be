/** The deadlines of one exchange with its upstream. */

export class UpstreamTimeout extends Error {
  constructor(phase: "connect" | "response" | "idle") {
    super(
      phase === "connect"
        ? "the upstream did not accept a connection in time"
        : phase === "response"
          ? "the upstream did not answer in time"
          : "the upstream stopped sending the response",
    );
  }
}

/** Named timers of one exchange. */
export class Timers {
  readonly #timers = new Map<string, NodeJS.Timeout>();

  start(name: string, seconds: number, fire: () => void): void {
    this.clear(name);
    this.#timers.set(name, setTimeout(fire, seconds * 1000));
  }

  refresh(name: string): void {
    this.#timers.get(name)?.refresh();
  }

  clear(name: string): void {
    const timer = this.#timers.get(name);
    if (timer) clearTimeout(timer);
    this.#timers.delete(name);
  }

  clearAll(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
