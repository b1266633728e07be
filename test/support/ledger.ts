import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeMetadata, type NewEvent, newEvent } from "../../src/events/index.ts";
import type { EventStore } from "../../src/eventstore/port.ts";
import { sealNow } from "../../src/eventstore/seal.ts";
import { SqliteEventStore } from "../../src/eventstore/sqlite.ts";
import { loadOrCreateSigningKey, type SigningKey } from "../../src/identity/signing-key.ts";

/** A data directory laid out as `sluice start` would: sluice.yaml, data/sluice.db, data/keys/. */
export function makeDataDir(): { dir: string; dbPath: string; keyFile: string; configFile: string } {
  const dir = mkdtempSync(join(tmpdir(), "sluice-ledger-"));
  const configFile = join(dir, "sluice.yaml");
  // Proxies on free ports: a gateway started on this config must not collide with other test files.
  writeFileSync(
    configFile,
    `dataDir: ${join(dir, "data")}\nlog:\n  level: silent\nproxies: { postgres: { port: 0 }, ssh: { port: 0 }, http: { port: 0 } }\n`,
  );
  return {
    dir,
    dbPath: join(dir, "data", "sluice.db"),
    keyFile: join(dir, "data", "keys", "ledger-ed25519.jwk"),
    configFile,
  };
}

const meta = (sessionId?: string) => makeMetadata({ gatewayInstance: "test", sessionId, actor: "agent-1" });

/** One session with a few commands: a realistic mix of event kinds. */
export function sessionEvents(sessionId: string, commands: number): NewEvent[] {
  const events: NewEvent[] = [
    newEvent(
      "SessionStarted",
      {
        sessionId,
        protocol: "postgres",
        target: "orders-db",
        identity: { subject: "agent-1", groups: ["agents"] },
        client: { address: "127.0.0.1:50000" },
      },
      meta(sessionId),
    ),
  ];
  for (let c = 0; c < commands; c++) {
    const commandId = `${sessionId}-c${c}`;
    events.push(
      newEvent(
        "CommandDecided",
        {
          sessionId,
          commandId,
          protocol: "postgres",
          command: `SELECT * FROM orders WHERE id = ${c}`,
          classification: { kinds: ["select"], relations: ["public.orders"] },
          decision: "allow",
          rule: "read-orders",
          reason: "allowed by rule read-orders",
          policyVersion: 1,
        },
        meta(sessionId),
      ),
      newEvent(
        "CommandCompleted",
        { sessionId, commandId, status: "ok", durationMs: 1.5, rows: 1, tag: "SELECT 1" },
        meta(sessionId),
      ),
    );
  }
  events.push(
    newEvent("SessionEnded", { sessionId, reason: "client terminated", durationMs: 12 }, meta(sessionId)),
  );
  return events;
}

/** Builds a sealed log: sessions, a seal, more sessions, a seal, and an unsealed tail. */
export async function buildSealedLog(store: EventStore, key: SigningKey): Promise<void> {
  const seal = () => sealNow(store, { key, gatewayInstance: "test" });
  for (let s = 0; s < 4; s++) await store.append(`session-s${s}`, sessionEvents(`s${s}`, 2));
  await seal();
  for (let s = 4; s < 7; s++) await store.append(`session-s${s}`, sessionEvents(`s${s}`, 2));
  await seal();
  await store.append("session-s7", sessionEvents("s7", 1));
}

export async function openSealedLog() {
  const paths = makeDataDir();
  const key = await loadOrCreateSigningKey(paths.keyFile);
  const store = await SqliteEventStore.open({ path: paths.dbPath });
  await buildSealedLog(store, key);
  await store.close();
  return { ...paths, key };
}
