import { resolveSecret } from "../../config/secret-ref.ts";
import type { Target } from "../../domain/policy/document.ts";
import { SluiceError } from "../../errors.ts";
import type { Principal } from "../../gate/gate.ts";
import { PostgresRoleManager } from "../../identity/upstream/postgres-roles.ts";

export type UpstreamSslMode = "disable" | "prefer" | "require" | "verify-ca" | "verify-full";

/** Where and as whom the gateway connects upstream for one session. Never leaves the gateway. */
export interface UpstreamSettings {
  host: string;
  port: number;
  user: string;
  password: string | null;
  database: string;
  sslMode: UpstreamSslMode;
  /** PEM bundle to trust for verify-ca / verify-full. */
  ca?: string;
}

const SSL_MODES = new Set<string>(["disable", "prefer", "require", "verify-ca", "verify-full"]);

/**
 * The target's address plus the gateway-held account: `credential` is a postgres:// URL (user,
 * password, database, sslmode) or a bare password for `user`. With `ephemeralRole`, a session
 * that presents a sub-task credential logs in as that credential's own short-lived role.
 */
export async function upstreamSettings(
  target: Target,
  principal: Principal,
  roles: (target: string) => PostgresRoleManager | undefined,
): Promise<UpstreamSettings> {
  const [host, portText] = splitAddress(target.address);
  const settings: UpstreamSettings = {
    host,
    port: Number(portText ?? 5432),
    user: target.user ?? "postgres",
    password: null,
    database: "postgres",
    sslMode: "prefer",
  };
  if (target.credential) {
    const secret = resolveSecret(target.credential, `target ${target.name} credential`);
    if (/^postgres(ql)?:\/\//i.test(secret)) applyUrl(settings, secret, target.name);
    else settings.password = secret;
  }
  if (target.ca) settings.ca = resolveSecret(target.ca, `target ${target.name} ca`);
  if (target.ephemeralRole && principal.credential) {
    const manager = roles(target.name);
    if (!manager) throw new SluiceError("INTERNAL", `target ${target.name} has no ephemeral role manager`);
    settings.user = PostgresRoleManager.roleName(principal.credential.credentialId);
    settings.password = await manager.password(settings.user);
  }
  return settings;
}

function applyUrl(settings: UpstreamSettings, text: string, target: string): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SluiceError("CONFIG_INVALID", `target ${target}: credential is not a valid postgres:// URL`);
  }
  if (url.username) settings.user = decodeURIComponent(url.username);
  if (url.password) settings.password = decodeURIComponent(url.password);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (database) settings.database = database;
  const sslMode = url.searchParams.get("sslmode");
  if (sslMode) {
    if (!SSL_MODES.has(sslMode))
      throw new SluiceError("CONFIG_INVALID", `target ${target}: sslmode ${sslMode} is not supported`);
    settings.sslMode = sslMode as UpstreamSslMode;
  }
}

function splitAddress(address: string): [string, string | undefined] {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (bracketed) return [bracketed[1] as string, bracketed[2]];
  const at = address.lastIndexOf(":");
  return at > 0 ? [address.slice(0, at), address.slice(at + 1)] : [address, undefined];
}
