import type { PolicySnapshot } from "../../domain/policy/decide.ts";
import type { Target } from "../../domain/policy/document.ts";

/**
 * Which target a request is for. By host name first: a request whose Host header is one of a
 * target's `hostnames` goes to it with its path unchanged. Otherwise by path prefix: the first
 * path segment names the target (`pathPrefix`, default the target's name) and is stripped, so
 * `GET /orders-api/v1/orders` reaches `<orders-api address>/v1/orders` and a kubeconfig server
 * `http://sluice:18080/prod-cluster` makes kubectl's `/api/v1/...` paths reach that cluster.
 */

export interface Route {
  target: Target;
  /** The request's path and query below the target, exactly as the agent sent them. */
  path: string;
}

export function routeRequest(
  policy: PolicySnapshot | null,
  host: string | undefined,
  url: string,
): Route | null {
  if (!policy || !url.startsWith("/")) return null;
  const targets = policy.document.targets.filter((t) => t.protocol === "http" || t.protocol === "kubernetes");
  const name = host ? hostName(host) : "";
  if (name) {
    const byHost = targets.find((t) => t.hostnames?.some((h) => hostName(h) === name));
    if (byHost) return { target: byHost, path: url };
  }
  const end = url.slice(1).search(/[/?]/);
  const first = end === -1 ? url.slice(1) : url.slice(1, end + 1);
  const target = targets.find((t) => (t.pathPrefix ?? t.name) === first);
  if (!target) return null;
  const rest = end === -1 ? "" : url.slice(end + 1);
  return { target, path: rest.startsWith("/") ? rest : `/${rest}` };
}

/** `Api.Example.com:443` → `api.example.com`; `[::1]:8080` → `::1`. */
function hostName(host: string): string {
  let name = host.trim().toLowerCase();
  if (name.startsWith("[")) name = name.slice(1, name.indexOf("]"));
  else if (name.indexOf(":") === name.lastIndexOf(":")) name = name.replace(/:\d*$/, "");
  return name.replace(/\.$/, "");
}

/**
 * Refuses paths an upstream might resolve differently from the classifier (which decodes and
 * resolves them): dot segments, encoded slashes or backslashes, and empty segments. What is
 * left reaches the upstream exactly as the classifier saw it.
 */
export function ambiguousPath(path: string): string | null {
  const query = path.indexOf("?");
  const pathname = query === -1 ? path : path.slice(0, query);
  const segments = pathname.slice(1).split("/");
  for (let i = 0; i < segments.length; i++) {
    const raw = segments[i] as string;
    if (raw === "") {
      if (i === segments.length - 1) continue; // a trailing slash
      return "the path has an empty segment";
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return "the path has an invalid percent-encoding";
    }
    if (decoded === "." || decoded === "..") return "the path has a dot segment";
    if (decoded.includes("/") || decoded.includes("\\"))
      return "the path has an encoded slash or a backslash";
  }
  return null;
}
