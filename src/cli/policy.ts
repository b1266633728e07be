import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { stringify } from "yaml";
import { loadConfig } from "../config/load.ts";
import { SluiceError } from "../errors.ts";
import { openStore } from "../eventstore/open.ts";
import type { EventStore } from "../eventstore/port.ts";
import { applyPolicy, readPolicyVersion } from "../gate/policy-versions.ts";

/** `sluice policy apply FILE...` and `sluice policy show [--version N]`. */

async function withStore<T>(
  configFile: string | undefined,
  use: (store: EventStore, instance: string) => Promise<T>,
) {
  const config = loadConfig({ file: configFile });
  const store = await openStore(config.store);
  try {
    return await use(store, config.instanceId);
  } finally {
    await store.close();
  }
}

export async function policyApplyCommand(
  files: string[],
  options: { config?: string; author?: string },
): Promise<number> {
  const texts = files.map((file) => {
    try {
      return { file, text: readFileSync(file, "utf8") };
    } catch (error) {
      throw new SluiceError("CONFIG_INVALID", `cannot read ${file}: ${(error as Error).message}`);
    }
  });
  // Until OIDC sign-in lands for the CLI, the author is the named or local operator.
  const author = { subject: options.author ?? userInfo().username, groups: [], kind: "human" as const };
  const result = await withStore(options.config, (store, instance) =>
    applyPolicy(store, texts, author, instance),
  );
  if (!result.published) {
    process.stdout.write(`policy unchanged: version ${result.version} is identical\n`);
  } else {
    process.stdout.write(`policy version ${result.version} published\n`);
    for (const line of result.diff) process.stdout.write(`  ${line}\n`);
  }
  return 0;
}

export async function policyShowCommand(options: { config?: string; version?: string; json?: boolean }) {
  const version = options.version === undefined ? undefined : Number(options.version);
  if (version !== undefined && !(Number.isInteger(version) && version > 0)) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `--version must be a positive whole number, not "${options.version}"`,
    );
  }
  const found = await withStore(options.config, (store) => readPolicyVersion(store, version));
  if (!found) {
    process.stderr.write(
      version ? `sluice: policy version ${version} does not exist\n` : "sluice: no policy published yet\n",
    );
    return 1;
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(found.document, null, 2)}\n`);
  } else {
    process.stdout.write(
      `# policy version ${found.version}, published ${found.time} by ${found.author.subject}\n`,
    );
    process.stdout.write(stringify(found.document));
  }
  return 0;
}
