import type { HttpFacts } from "../../domain/policy/command.ts";

/**
 * HTTP requests: method, path and query; for Kubernetes targets also the API verb, group,
 * resource, subresource, namespace and name, resolved the way the API server does.
 */

export interface HttpClassification extends HttpFacts {
  query: Record<string, string>;
}

export function classifyHttp(
  method: string,
  url: string,
  options: { kubernetes: boolean },
): HttpClassification {
  const parsed = new URL(url, "http://target.invalid");
  const query = Object.fromEntries(parsed.searchParams);
  const path = normalisePath(parsed.pathname);
  const facts: HttpClassification = { method: method.toUpperCase(), path, query };
  return options.kubernetes ? { ...facts, ...kubernetesFacts(facts.method, path, query) } : facts;
}

/** Decodes and resolves `.`/`..` segments so `/api/../secrets` cannot slip past a path rule. */
function normalisePath(pathname: string): string {
  const out: string[] = [];
  for (const segment of pathname.split("/")) {
    const part = safeDecode(segment);
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);
const CONNECT_SUBRESOURCES = new Set(["exec", "attach", "portforward", "proxy"]);

function kubernetesFacts(method: string, path: string, query: Record<string, string>): Partial<HttpFacts> {
  let parts = path.split("/").filter(Boolean);
  let group: string;
  if (parts[0] === "api" && parts.length >= 2) {
    group = "";
    parts = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 3) {
    group = parts[1] as string;
    parts = parts.slice(3);
  } else {
    return { verb: method.toLowerCase() }; // a non-resource path: /healthz, /version, /openapi/v2
  }
  let watch = query.watch === "true" || query.watch === "1";
  if (parts[0] === "watch") {
    watch = true;
    parts = parts.slice(1);
  }
  let namespace: string | undefined;
  if (parts[0] === "namespaces" && parts.length > 1) {
    namespace = parts[1];
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] as string)) parts = parts.slice(2);
  }
  const [resource, name, subresource] = parts;
  if (resource === "namespaces") namespace = undefined;
  const verb =
    subresource && CONNECT_SUBRESOURCES.has(subresource) ? subresource : restVerb(method, name, watch);
  return {
    verb,
    group,
    ...(resource ? { resource } : {}),
    ...(subresource ? { subresource } : {}),
    ...(namespace ? { namespace } : {}),
    ...(name ? { name } : {}),
  };
}

function restVerb(method: string, name: string | undefined, watch: boolean): string {
  switch (method) {
    case "GET":
    case "HEAD":
      return watch ? "watch" : name ? "get" : "list";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return name ? "delete" : "deletecollection";
    default:
      return method.toLowerCase();
  }
}
