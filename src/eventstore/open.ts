import type { StoreConfig } from "../config/schema.ts";
import { resolveSecret } from "../config/secret-ref.ts";
import type { EventStore } from "./port.ts";

/** Opens the store named by config; each engine is loaded only when chosen. */
export async function openStore(config: StoreConfig): Promise<EventStore> {
  switch (config.kind) {
    case "sqlite": {
      const { SqliteEventStore } = await import("./sqlite.ts");
      return SqliteEventStore.open({ path: config.path as string, writer: config.writer });
    }
    case "postgres": {
      const { PostgresEventStore } = await import("./postgres.ts");
      return PostgresEventStore.open({
        connectionString: resolveSecret(config.url, "store.url"),
        schema: config.schema,
        poolSize: config.poolSize,
      });
    }
    case "esdb": {
      const { openEsdbStore } = await import("./esdb.ts");
      return openEsdbStore({
        connectionString: resolveSecret(config.url, "store.url"),
        namespace: config.namespace,
      });
    }
  }
}
