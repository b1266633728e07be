import { join, resolve } from "node:path";
import { z } from "zod";

/** `readModels` in sluice.yaml: where the projections keep their tables. */
export const readModelsConfig = z
  .object({
    /** SQLite file; `:memory:` rebuilds them from the log at every start. Default `<dataDir>/read-models.db`. */
    path: z.string().min(1).optional(),
  })
  .strict();

export function readModelsPath(config: { dataDir: string; readModels: { path?: string } }): string {
  const path = config.readModels.path;
  if (path === ":memory:") return path;
  return path ? resolve(path) : join(config.dataDir, "read-models.db");
}
