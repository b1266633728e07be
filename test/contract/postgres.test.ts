import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { PostgresEventStore } from "../../src/eventstore/postgres.ts";
import { type PostgresServer, startPostgres } from "../support/postgres.ts";
import { eventStoreContract } from "./contract.ts";

let server: PostgresServer;
let schemas = 0;

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

eventStoreContract("PostgreSQL", async () => {
  // A fresh schema per test: the same server, an isolated log.
  const schema = `contract_${process.pid}_${schemas++}`;
  return {
    open: () => PostgresEventStore.open({ connectionString: server.url, schema, pollMs: 100 }),
    async corruptData(position, text) {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      await client.query(`UPDATE ${schema}.events SET data = $1 WHERE position = $2`, [
        text,
        position.toString(),
      ]);
      await client.end();
    },
    async dispose() {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    },
  };
});
