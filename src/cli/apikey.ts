import { loadConfig } from "../config/load.ts";
import { resolveSecret } from "../config/secret-ref.ts";
import { SluiceError } from "../errors.ts";
import { generateApiKey } from "../identity/api-keys.ts";

/**
 * `sluice apikey generate --id ID --subject S [--groups a,b] [--scope t1,t2]`: a new static key
 * for an agent. The key is printed once; the YAML entry for `identity.apiKeys.keys` holds only
 * its HMAC under the configured pepper.
 */
export async function apikeyGenerateCommand(options: {
  config?: string;
  id: string;
  subject: string;
  groups?: string;
  scope?: string;
}): Promise<number> {
  const config = loadConfig({ file: options.config });
  const apiKeys = config.identity.apiKeys;
  if (!apiKeys)
    throw new SluiceError(
      "CONFIG_INVALID",
      "identity.apiKeys.pepper is not configured: keys are hashed with it",
    );
  const { key, hash } = generateApiKey(resolveSecret(apiKeys.pepper, "identity.apiKeys.pepper"));
  const list = (text?: string) =>
    text
      ? text
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean)
      : [];
  const scope = list(options.scope);
  process.stdout.write(
    `key ${key}\n\n# add under identity.apiKeys.keys in sluice.yaml:\n` +
      `- { id: ${options.id}, hash: "${hash}", subject: ${options.subject}, groups: [${list(options.groups).join(", ")}]` +
      `${scope.length ? `, scope: [${scope.join(", ")}]` : ""} }\n`,
  );
  return 0;
}
