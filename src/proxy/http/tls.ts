import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { generate } from "selfsigned";
import { SluiceError } from "../../errors.ts";
import type { HttpProxyConfig } from "./config.ts";

/** Where the generated certificate of the HTTP port lives (what a kubeconfig trusts). */
export function generatedCertificateFile(dataDir: string): string {
  return join(dataDir, "tls", "http-proxy.crt");
}

/**
 * The certificate the HTTP port presents: the configured one, or a self-signed one generated
 * into `<dataDir>/tls/` on first start and reused after, for localhost, this host's name and
 * the loopback addresses (agents trust it as their kubeconfig's certificate authority).
 */
export async function loadHttpCertificate(
  tls: HttpProxyConfig["tls"],
  dataDir: string,
): Promise<{ cert: string; key: string } | null> {
  if (tls.mode === "disabled") return null;
  if (tls.certFile || tls.keyFile) {
    if (!tls.certFile || !tls.keyFile)
      throw new SluiceError("CONFIG_INVALID", "proxies.http.tls: set both certFile and keyFile");
    return { cert: read(tls.certFile), key: read(tls.keyFile) };
  }
  const certFile = generatedCertificateFile(dataDir);
  const keyFile = join(dataDir, "tls", "http-proxy.key");
  if (existsSync(certFile) && existsSync(keyFile)) return { cert: read(certFile), key: read(keyFile) };
  const host = hostname();
  const pems = await generate([{ name: "commonName", value: host }], {
    keyType: "ec",
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 825 * 86_400_000),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: host },
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
  mkdirSync(join(dataDir, "tls"), { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  writeFileSync(certFile, pems.cert, { mode: 0o644 });
  return { cert: pems.cert, key: pems.private };
}

function read(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `proxies.http.tls: cannot read ${file}: ${(error as Error).message}`,
    );
  }
}
