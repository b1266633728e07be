import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generate } from "selfsigned";
import { SluiceError } from "../../errors.ts";
import type { PostgresProxyConfig } from "./config.ts";

export interface ProxyCertificate {
  cert: string;
  key: string;
}

/**
 * The certificate the PostgreSQL port presents: the configured one, or a self-signed one
 * generated into `<dataDir>/tls/` on first start and reused after (clients can pin it).
 */
export async function loadProxyCertificate(
  tls: PostgresProxyConfig["tls"],
  dataDir: string,
  hostName: string,
): Promise<ProxyCertificate | null> {
  if (tls.mode === "disabled") return null;
  if (tls.certFile || tls.keyFile) {
    if (!tls.certFile || !tls.keyFile)
      throw new SluiceError("CONFIG_INVALID", "proxies.postgres.tls: set both certFile and keyFile");
    return { cert: read(tls.certFile), key: read(tls.keyFile) };
  }
  const dir = join(dataDir, "tls");
  const certFile = join(dir, "postgres-proxy.crt");
  const keyFile = join(dir, "postgres-proxy.key");
  if (existsSync(certFile) && existsSync(keyFile)) return { cert: read(certFile), key: read(keyFile) };
  const pems = await generate([{ name: "commonName", value: hostName }], {
    keyType: "ec",
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 825 * 86_400_000),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: hostName },
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
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
      `proxies.postgres.tls: cannot read ${file}: ${(error as Error).message}`,
    );
  }
}
