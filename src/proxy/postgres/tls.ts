import { loadOrCreateCertificate, type ProxyCertificate } from "../tls-certificate.ts";
import type { PostgresProxyConfig } from "./config.ts";

/** The PostgreSQL port's certificate (configured or generated as `<dataDir>/tls/postgres-proxy.crt`); null without TLS. */
export async function loadProxyCertificate(
  tls: PostgresProxyConfig["tls"],
  dataDir: string,
): Promise<ProxyCertificate | null> {
  if (tls.mode === "disabled") return null;
  return loadOrCreateCertificate({ ...tls, dataDir, name: "postgres-proxy", what: "proxies.postgres.tls" });
}
