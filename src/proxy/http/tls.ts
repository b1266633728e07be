import {
  generatedCertificateFile as generatedFile,
  loadOrCreateCertificate,
  type ProxyCertificate,
} from "../tls-certificate.ts";
import type { HttpProxyConfig } from "./config.ts";

/** Where the generated certificate of the HTTP port lives (what a kubeconfig trusts). */
export function generatedCertificateFile(dataDir: string): string {
  return generatedFile(dataDir, "http-proxy");
}

/** The HTTP port's certificate (configured or generated); null when the port speaks plain HTTP. */
export async function loadHttpCertificate(
  tls: HttpProxyConfig["tls"],
  dataDir: string,
): Promise<ProxyCertificate | null> {
  if (tls.mode === "disabled") return null;
  return loadOrCreateCertificate({ ...tls, dataDir, name: "http-proxy", what: "proxies.http.tls" });
}
