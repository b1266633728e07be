import type { SluiceConfig } from "../config/schema.ts";
import type { Target } from "../domain/policy/document.ts";
import { generatedCertificateFile } from "../proxy/http/tls.ts";

/** Default proxy ports (the proxies' own config will override them as they land). */
export const DEFAULT_PORTS = { postgres: 15432, ssh: 12222, http: 18080, kubernetes: 18080 } as const;

/** How agents reach the HTTP/Kubernetes port: its port, whether it speaks TLS, and the CA to trust. */
export interface HttpPortHint {
  port?: number;
  tls?: boolean;
  /** PEM of the port's certificate (embedded in the kubeconfig), or the file holding it. */
  caPem?: string;
  caFile?: string;
}

/** Where the proxy ports listen, as configured. */
export interface ProxyPorts {
  postgres?: number;
  ssh?: number;
  http?: HttpPortHint;
}

/** The ports of a gateway configuration, for the hints agents are given. */
export function proxyPorts(config: SluiceConfig): ProxyPorts {
  const { http } = config.proxies;
  return {
    postgres: config.proxies.postgres.port,
    ssh: config.proxies.ssh.port,
    http: {
      port: http.port,
      tls: http.tls.mode === "enabled",
      caFile: http.tls.certFile ?? generatedCertificateFile(config.dataDir),
    },
  };
}

/** What to paste to use a credential against its target, per protocol. */
export function accessHint(
  target: Target,
  host: string,
  subject: string,
  token: string,
  ports: ProxyPorts = {},
): string {
  switch (target.protocol) {
    case "postgres":
      return `PGPASSWORD='${token}' psql "host=${host} port=${ports.postgres ?? DEFAULT_PORTS.postgres} user=${subject} dbname=${target.name} sslmode=require"`;
    case "ssh":
      return `ssh -p ${ports.ssh ?? DEFAULT_PORTS.ssh} ${target.name}@${host}    # password: the token above`;
    case "http":
    case "kubernetes":
      return httpHint(target, host, subject, token, ports.http ?? {});
  }
}

function httpHint(target: Target, host: string, subject: string, token: string, http: HttpPortHint): string {
  const tls = http.tls ?? true;
  const url = `${tls ? "https" : "http"}://${host}:${http.port ?? DEFAULT_PORTS.http}/${target.pathPrefix ?? target.name}`;
  const caFile = http.caFile ?? "<dataDir>/tls/http-proxy.crt";
  if (target.protocol === "http") {
    const ca = tls ? `--cacert ${caFile} ` : "";
    return `curl ${ca}-H "Authorization: Bearer ${token}" ${url}/`;
  }
  const trust = !tls
    ? []
    : http.caPem
      ? [`    certificate-authority-data: ${Buffer.from(http.caPem).toString("base64")}`]
      : [`    certificate-authority: ${caFile}`];
  return [
    "# kubeconfig: save it to a file and run KUBECONFIG=<file> kubectl get pods",
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: ${target.name}`,
    "  cluster:",
    `    server: ${url}`,
    ...trust,
    "users:",
    `- name: ${subject}`,
    "  user:",
    `    token: ${token}`,
    "contexts:",
    `- name: ${target.name}`,
    "  context:",
    `    cluster: ${target.name}`,
    `    user: ${subject}`,
    `current-context: ${target.name}`,
  ].join("\n");
}
