import { existsSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { SluiceError } from "../errors.ts";
import { configSchema, type SluiceConfig } from "./schema.ts";
import { parseYamlFile } from "./yaml-schema.ts";

export interface LoadOptions {
  /** Explicit file (`--config`); else SLUICE_CONFIG; else ./sluice.yaml when present; else defaults. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Environment variables that override the file: the few a container needs. */
const ENV_OVERRIDES: Record<string, (config: Record<string, unknown>, value: string) => void> = {
  SLUICE_DATA_DIR: (c, v) => {
    c.dataDir = v;
  },
  SLUICE_LOG_LEVEL: (c, v) => {
    c.log = { ...(c.log as object), level: v };
  },
  SLUICE_API_HOST: (c, v) => {
    c.api = { ...(c.api as object), host: v };
  },
  SLUICE_API_PORT: (c, v) => {
    c.api = { ...(c.api as object), port: Number(v) };
  },
  SLUICE_INSTANCE_ID: (c, v) => {
    c.instanceId = v;
  },
};

export function loadConfig(options: LoadOptions = {}): SluiceConfig & { source: string } {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicit = options.file ?? env.SLUICE_CONFIG;
  const file = explicit ?? (existsSync(join(cwd, "sluice.yaml")) ? "sluice.yaml" : undefined);
  if (explicit && !existsSync(resolve(cwd, explicit))) {
    throw new SluiceError("CONFIG_INVALID", `config file ${explicit} does not exist`);
  }
  const fromFile = file
    ? (parseYamlFile(resolve(cwd, file), configSchema.partial()) as Record<string, unknown>)
    : {};
  const merged: Record<string, unknown> = { ...fromFile };
  for (const [name, apply] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value !== undefined && value !== "") apply(merged, value);
  }
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SluiceError("CONFIG_INVALID", `${issue?.path.join(".")}: ${issue?.message} (from environment)`);
  }
  const config = parsed.data;
  // Relative paths are relative to the working directory, resolved once here.
  config.dataDir = isAbsolute(config.dataDir) ? config.dataDir : resolve(cwd, config.dataDir);
  if (config.store.kind === "sqlite") {
    config.store.path = config.store.path
      ? resolve(cwd, config.store.path)
      : join(config.dataDir, "sluice.db");
  }
  config.ledger.signingKeyFile = config.ledger.signingKeyFile
    ? resolve(cwd, config.ledger.signingKeyFile)
    : join(config.dataDir, "keys", "ledger-ed25519.jwk");
  return { ...config, source: file ? resolve(cwd, file) : "(defaults)" };
}
