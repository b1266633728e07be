import { loadConfig } from "../config/load.ts";
import type { SluiceConfig } from "../config/schema.ts";
import { SluiceError } from "../errors.ts";
import { openStore } from "../eventstore/open.ts";
import type { EventStore } from "../eventstore/port.ts";
import { OidcVerifier, type VerifiedIdentity } from "../identity/oidc.ts";

/** For CLI commands a person or agent runs as themselves: verify their OIDC token, open the store. */
export async function asCaller<T>(
  options: { config?: string; token: string },
  use: (context: { config: SluiceConfig; caller: VerifiedIdentity; store: EventStore }) => Promise<T>,
): Promise<T> {
  const config = loadConfig({ file: options.config });
  if (!config.identity.oidc) {
    throw new SluiceError(
      "CONFIG_INVALID",
      "identity.oidc is not configured: this command needs an OIDC issuer",
    );
  }
  const verifier = await OidcVerifier.discover(config.identity.oidc);
  const caller = await verifier.verify(options.token);
  const store = await openStore(config.store);
  try {
    return await use({ config, caller, store });
  } finally {
    await store.close();
  }
}
