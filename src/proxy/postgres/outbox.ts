import type { Socket } from "node:net";

/**
 * Frames bound for one socket, written as one buffer per turn of the event loop: a statement
 * produces many small frames, and one write per frame costs more than copying them together.
 */
export class Outbox {
  private chunks: Buffer[] = [];
  private scheduled = false;

  constructor(private readonly socket: Socket) {}

  push(frame: Buffer): void {
    this.chunks.push(frame);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Writes what is queued now; true when the socket asks the writer to wait for `drain`. */
  flush(): boolean {
    this.scheduled = false;
    const chunks = this.chunks;
    if (chunks.length > 0 && !this.socket.destroyed) {
      this.chunks = [];
      this.socket.write(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    }
    return this.socket.writableNeedDrain;
  }
}
