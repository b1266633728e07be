import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { eventStoreContract } from "./contract.ts";

for (const writer of ["thread", "inline"] as const) {
  eventStoreContract(`SQLite (writer ${writer})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-sqlite-"));
    const path = join(dir, "sluice.db");
    return {
      open: () => SqliteEventStore.open({ path, pollMs: 50, writer }),
      async corruptData(position, text) {
        const db = new Database(path);
        db.prepare("UPDATE events SET data = ? WHERE position = ?").run(text, position);
        db.close();
      },
      async dispose() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}
