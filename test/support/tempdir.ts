import { chmodSync, chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OsUser } from "./process.ts";
import { trackDir } from "./reaper.ts";

export interface TempDir {
  path: string;
  /** Deletes the directory and everything in it. Idempotent. */
  remove(): void;
}

/**
 * A fresh directory under the OS temp dir, mode 0700, owned by `owner` when given (servers that
 * drop root, such as PostgreSQL, need to own their directory). Removed on remove() or process exit.
 */
export function makeTempDir(prefix: string, owner?: OsUser): TempDir {
  const path = mkdtempSync(join(tmpdir(), `sluice-${prefix}-`));
  chmodSync(path, 0o700);
  if (owner) chownSync(path, owner.uid, owner.gid);
  const untrack = trackDir(path);
  let removed = false;
  return {
    path,
    remove() {
      if (removed) return;
      removed = true;
      rmSync(path, { recursive: true, force: true, maxRetries: 3 });
      untrack();
    },
  };
}
