import { createHash } from "node:crypto";
import { once } from "node:events";
import { closeSync, createWriteStream, fsyncSync, openSync, type WriteStream } from "node:fs";
import { basename } from "node:path";

/** What a manifest records for each file of an export. */
export interface ExportedFile {
  name: string;
  bytes: number;
  sha256: string;
  records: number;
}

/** Lines batched into chunks of about this size before they reach the file stream. */
const CHUNK = 64 * 1024;

/**
 * One export file written record by record: batched into chunks, hashed and counted as written,
 * waiting for `drain` so memory stays bounded whatever the size of the export.
 */
export class FileSink {
  private readonly stream: WriteStream;
  private readonly hash = createHash("sha256");
  private chunk = "";
  private bytes = 0;
  private records = 0;

  constructor(private readonly path: string) {
    this.stream = createWriteStream(path, { flags: "wx" });
  }

  /** Appends one record (or a header, not counted) and its newline; a promise only when the writer must wait. */
  write(line: string, header = false): Promise<void> | undefined {
    this.chunk += `${line}\n`;
    if (!header) this.records += 1;
    return this.chunk.length >= CHUNK ? this.flush() : undefined;
  }

  private flush(): Promise<void> | undefined {
    if (this.chunk.length === 0) return undefined;
    const buffer = Buffer.from(this.chunk, "utf8");
    this.chunk = "";
    this.hash.update(buffer);
    this.bytes += buffer.length;
    if (this.stream.write(buffer)) return undefined;
    return once(this.stream, "drain").then(() => undefined);
  }

  /** Flushes, closes and (for archives about to be relied on) fsyncs the file. */
  async finish(options: { durable?: boolean } = {}): Promise<ExportedFile> {
    await this.flush();
    this.stream.end();
    await once(this.stream, "close");
    if (options.durable) fsyncPath(this.path);
    return {
      name: basename(this.path),
      bytes: this.bytes,
      sha256: this.hash.digest("hex"),
      records: this.records,
    };
  }

  /** Closes without caring for the content (the export failed). */
  abort(): void {
    this.stream.destroy();
  }
}

export function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
