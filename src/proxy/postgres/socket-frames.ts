import type { Socket } from "node:net";

/**
 * Pull-style reading of decoded frames from a socket, for the login phases where the proxy
 * converses step by step; `detach` hands what is already decoded to the streaming session.
 */
export class SocketFrames<T> {
  private readonly queue: T[] = [];
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly decode: (chunk: Buffer) => T[],
    private readonly what: string,
  ) {
    socket.on("data", this.onData);
    socket.on("close", this.onClose);
    socket.on("error", this.onError);
  }

  /** The next frame; rejects on decode errors, on close, and after `timeoutMs`. */
  async next(timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.what} sent nothing for ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.queue.shift() as T;
  }

  /** Stops listening (the socket is paused) and returns frames decoded but not yet taken. */
  detach(): T[] {
    this.socket.off("data", this.onData);
    this.socket.off("close", this.onClose);
    this.socket.off("error", this.onError);
    this.socket.pause();
    return this.queue.splice(0);
  }

  private readonly onData = (chunk: Buffer) => {
    try {
      for (const frame of this.decode(chunk)) this.queue.push(frame);
    } catch (error) {
      this.failure ??= error as Error;
      this.socket.pause();
    }
    this.wake?.();
  };

  private readonly onClose = () => {
    this.failure ??= new Error(`${this.what} closed the connection`);
    this.wake?.();
  };

  private readonly onError = (error: Error) => {
    this.failure ??= error;
    this.wake?.();
  };
}
