import type { Target } from "../domain/policy/document.ts";

/** Default proxy ports (the proxies' own config will override them as they land). */
export const DEFAULT_PORTS = { postgres: 15432, ssh: 12222, http: 18080, kubernetes: 18080 } as const;

/** What to paste to use a credential against its target, per protocol. */
export function accessHint(target: Target, host: string, subject: string, token: string): string {
  switch (target.protocol) {
    case "postgres":
      return `psql "host=${host} port=${DEFAULT_PORTS.postgres} user=${subject} password=${token} dbname=${target.name}"`;
    case "ssh":
      return `ssh -p ${DEFAULT_PORTS.ssh} ${target.name}@${host}    # password: the token above`;
    case "http":
      return `curl -H "Authorization: Bearer ${token}" http://${host}:${DEFAULT_PORTS.http}/${target.name}/`;
    case "kubernetes":
      return [
        "# kubeconfig",
        "apiVersion: v1",
        "kind: Config",
        `clusters: [{ name: ${target.name}, cluster: { server: "http://${host}:${DEFAULT_PORTS.kubernetes}/${target.name}" } }]`,
        `users: [{ name: ${subject}, user: { token: "${token}" } }]`,
        `contexts: [{ name: ${target.name}, context: { cluster: ${target.name}, user: ${subject} } }]`,
        `current-context: ${target.name}`,
      ].join("\n");
  }
}
