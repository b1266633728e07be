import { existsSync } from "node:fs";
import { readModelsPath } from "../../projections/config.ts";
import { openReadModels } from "../../projections/database.ts";
import { allProjections } from "../../projections/index.ts";
import { ProjectionRunner, projectionStatus } from "../../projections/runner.ts";
import { loadConfig } from "../config/load.ts";
import { SluiceError } from "../errors.ts";
import { openStore } from "../eventstore/open.ts";

/**
 * `sluice projections rebuild [NAME]` and `sluice projections status`. A rebuild can run while
 * the gateway is up: both fold into the same file under its checkpoints, and the gateway
 * notices the reset (no event is applied twice).
 */

const NAMES = allProjections.map((p) => p.name);

export async function projectionsRebuildCommand(name: string | undefined, options: { config?: string }) {
  if (name !== undefined && !NAMES.includes(name)) {
    throw new SluiceError("CONFIG_INVALID", `no read model named "${name}" (there are: ${NAMES.join(", ")})`);
  }
  const config = loadConfig({ file: options.config });
  const path = readModelsPath(config);
  if (path === ":memory:") {
    process.stdout.write(
      "read models are kept in memory (readModels.path): they are rebuilt at every start\n",
    );
    return 0;
  }
  const store = await openStore(config.store);
  const db = openReadModels(path);
  try {
    const runner = new ProjectionRunner({ store, db, projections: allProjections });
    const started = performance.now();
    await runner.rebuild(name ? [name] : undefined);
    await runner.catchUp();
    await runner.stop();
    const seconds = (performance.now() - started) / 1000;
    const head = await store.headPosition();
    process.stdout.write(
      `rebuilt ${name ?? NAMES.join(", ")} from the log up to position ${head} in ${seconds.toFixed(1)}s\n`,
    );
    return 0;
  } finally {
    db.close();
    await store.close();
  }
}

export async function projectionsStatusCommand(options: { config?: string; json?: boolean }) {
  const config = loadConfig({ file: options.config });
  const path = readModelsPath(config);
  if (path !== ":memory:" && !existsSync(path)) {
    process.stdout.write(`no read models yet at ${path} (the gateway builds them when it starts)\n`);
    return 0;
  }
  const store = await openStore(config.store);
  const db = openReadModels(path === ":memory:" ? ":memory:" : path);
  try {
    const status = await projectionStatus(db, store, allProjections);
    if (options.json) {
      const plain = status.map((s) => ({
        ...s,
        position: String(s.position),
        head: String(s.head),
        lag: String(s.lag),
      }));
      process.stdout.write(`${JSON.stringify(plain, null, 2)}\n`);
      return 0;
    }
    process.stdout.write("read model    version  position        head       lag  rebuilt\n");
    for (const s of status) {
      process.stdout.write(
        `${s.name.padEnd(13)} ${String(s.version).padStart(7)} ${String(s.position).padStart(9)} ` +
          `${String(s.head).padStart(11)} ${String(s.lag).padStart(9)}  ${s.rebuiltAt || "-"}\n`,
      );
    }
    return 0;
  } finally {
    db.close();
    await store.close();
  }
}
