import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { generate } from "selfsigned";
import { SluiceError } from "../errors.ts";

export interface ProxyCertificate {
  cert: string;
  key: string;
}

/** Where a port's generated certificate lives: `<dataDir>/tls/<name>.crt` (clients can pin or trust it). */
export function generatedCertificateFile(dataDir: string, name: string): string {
  return join(dataDir, "tls", `${name}.crt`);
}

/**
 * The certificate a proxy port presents: the configured PEM files, or a self-signed one
 * generated into `<dataDir>/tls/<name>.{crt,key}` on first start and reused after, valid for
 * this host's name, localhost and the loopback addresses. `what` names the config section.
 */
export async function loadOrCreateCertificate(options: {
  certFile?: string;
  keyFile?: string;
  dataDir: string;
  name: string;
  what: string;
}): Promise<ProxyCertificate> {
  const { certFile, keyFile, what } = options;
  if (certFile || keyFile) {
    if (!certFile || !keyFile)
      throw new SluiceError("CONFIG_INVALID", `${what}: set both certFile and keyFile`);
    return { cert: read(certFile, what), key: read(keyFile, what) };
  }
  const generatedCert = generatedCertificateFile(options.dataDir, options.name);
  const generatedKey = join(options.dataDir, "tls", `${options.name}.key`);
  if (existsSync(generatedCert) && existsSync(generatedKey))
    return { cert: read(generatedCert, what), key: read(generatedKey, what) };
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
  mkdirSync(join(options.dataDir, "tls"), { recursive: true, mode: 0o700 });
  writeFileSync(generatedKey, pems.private, { mode: 0o600 });
  writeFileSync(generatedCert, pems.cert, { mode: 0o644 });
  return { cert: pems.cert, key: pems.private };
}

function read(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new SluiceError("CONFIG_INVALID", `${what}: cannot read ${file}: ${(error as Error).message}`);
  }
}
