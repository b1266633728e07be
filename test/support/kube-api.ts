import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { stringify } from "yaml";
import { LOOPBACK } from "./ports.ts";

/**
 * A test server that speaks the Kubernetes API the way kubectl sees it: legacy discovery
 * (/version, /api, /apis, /api/v1), pods (list, get, delete, log, watch), secrets (list, get,
 * create, watch), real object shapes, server-side Tables when asked for them (`as=Table`),
 * `Status` objects for errors, and watch streams of JSON events. It checks the bearer token
 * the gateway injects and records every request it receives.
 */

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

export interface KubeApi {
  url: string;
  port: number;
  received: ReceivedRequest[];
  pods: Map<string, KubeObject>;
  secrets: Map<string, KubeObject>;
  /** Sends a watch event to every open watch on that resource. */
  emit(resource: "pods" | "secrets", type: "ADDED" | "MODIFIED" | "DELETED", object: KubeObject): void;
  /** Writes raw bytes to every open watch on that resource (an event split across writes). */
  writeRaw(resource: "pods" | "secrets", text: string): void;
  /** Open watch streams right now. */
  watchers(): number;
  stop(): Promise<void>;
}

const created = "2025-01-01T00:00:00Z";
let resourceVersion = 1000;

export function pod(name: string, namespace = "default", env: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace,
      uid: randomUUID(),
      resourceVersion: String(++resourceVersion),
      creationTimestamp: created,
      labels: { app: name.replace(/-\w+$/, "") },
    },
    spec: {
      containers: [
        {
          name: "app",
          image: "registry.example.com/app:1.4.2",
          env: Object.entries(env).map(([key, value]) => ({ name: key, value })),
        },
      ],
      nodeName: "node-1",
      restartPolicy: "Always",
    },
    status: {
      phase: "Running",
      podIP: "10.1.0.7",
      containerStatuses: [
        { name: "app", ready: true, restartCount: 0, state: { running: { startedAt: created } } },
      ],
    },
  };
}

export function secret(name: string, values: Record<string, string>, namespace = "default"): KubeObject {
  const data = Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString("base64")]),
  );
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name,
      namespace,
      uid: randomUUID(),
      resourceVersion: String(++resourceVersion),
      creationTimestamp: created,
      annotations: {
        "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({
          apiVersion: "v1",
          kind: "Secret",
          data,
          metadata: { name, namespace },
        }),
      },
    },
    type: "Opaque",
    data,
  };
}

const RESOURCES = {
  kind: "APIResourceList",
  apiVersion: "v1",
  groupVersion: "v1",
  resources: [
    {
      name: "pods",
      singularName: "pod",
      namespaced: true,
      kind: "Pod",
      verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
      shortNames: ["po"],
      categories: ["all"],
    },
    {
      name: "pods/exec",
      singularName: "",
      namespaced: true,
      kind: "PodExecOptions",
      verbs: ["create", "get"],
    },
    { name: "pods/log", singularName: "", namespaced: true, kind: "Pod", verbs: ["get"] },
    {
      name: "secrets",
      singularName: "secret",
      namespaced: true,
      kind: "Secret",
      verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    },
    {
      name: "namespaces",
      singularName: "namespace",
      namespaced: false,
      kind: "Namespace",
      verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
      shortNames: ["ns"],
    },
  ],
};

export async function startKubeApi(
  options: {
    token?: string;
    /** Answer objects in YAML whatever the client accepts (an API server behind a misbehaving proxy). */
    alwaysYaml?: boolean;
  } = {},
): Promise<KubeApi> {
  const received: ReceivedRequest[] = [];
  const pods = new Map<string, KubeObject>();
  const secrets = new Map<string, KubeObject>();
  const watches = new Set<{ resource: string; namespace?: string; res: ServerResponse }>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    received.push({ method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body });
    if (options.token && req.headers.authorization !== `Bearer ${options.token}`) {
      return status(res, 401, "Unauthorized", "Unauthorized");
    }
    const url = new URL(req.url ?? "/", "http://kube.invalid");
    const parts = url.pathname.split("/").filter(Boolean);
    const method = req.method ?? "GET";
    const table = /as=Table/.test(req.headers.accept ?? "");
    // Like the API server: YAML when the client prefers it (or when this server always does).
    const yaml = options.alwaysYaml || /^application\/yaml/.test(req.headers.accept ?? "");
    const send = (res: ServerResponse, code: number, body: unknown) =>
      yaml ? sendYaml(res, code, body) : sendJson(res, code, body);
    if (url.pathname === "/version") {
      return send(res, 200, {
        major: "1",
        minor: "32",
        gitVersion: "v1.32.0-sluice-test",
        platform: "linux/amd64",
      });
    }
    if (url.pathname === "/api") {
      return send(res, 200, {
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1:6443" }],
      });
    }
    if (url.pathname === "/apis")
      return send(res, 200, { kind: "APIGroupList", apiVersion: "v1", groups: [] });
    if (url.pathname === "/api/v1") return send(res, 200, RESOURCES);
    if (parts[0] !== "api" || parts[1] !== "v1")
      return status(res, 404, "NotFound", "the server could not find the requested resource");

    // /api/v1/[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]
    let rest = parts.slice(2);
    let namespace: string | undefined;
    if (rest[0] === "namespaces" && rest.length > 2) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [resource, name, subresource] = rest;
    const store = resource === "pods" ? pods : resource === "secrets" ? secrets : null;
    if (!store)
      return status(res, 404, "NotFound", `the server could not find the requested resource (${resource})`);
    const key = (ns: string, n: string) => `${ns}/${n}`;
    const inScope = [...store.values()].filter((o) => !namespace || o.metadata.namespace === namespace);

    if (!name && method === "GET") {
      if (url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1") {
        res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
        for (const object of inScope) res.write(`${JSON.stringify({ type: "ADDED", object })}\n`);
        const watch = { resource: resource as string, namespace, res };
        watches.add(watch);
        res.once("close", () => watches.delete(watch));
        return;
      }
      if (table) return send(res, 200, tableOf(resource, inScope));
      return send(res, 200, {
        kind: resource === "pods" ? "PodList" : "SecretList",
        apiVersion: "v1",
        metadata: { resourceVersion: String(resourceVersion) },
        items: inScope.map(({ apiVersion: _a, kind: _k, ...item }) => item),
      });
    }
    if (!name && method === "POST") {
      const object = JSON.parse(body) as KubeObject;
      object.metadata = {
        ...object.metadata,
        namespace: namespace ?? "default",
        uid: randomUUID(),
        resourceVersion: String(++resourceVersion),
        creationTimestamp: created,
      };
      if (object.stringData) {
        object.data = {
          ...(object.data as object),
          ...Object.fromEntries(
            Object.entries(object.stringData as Record<string, string>).map(([k, v]) => [
              k,
              Buffer.from(v).toString("base64"),
            ]),
          ),
        };
        delete object.stringData;
      }
      store.set(key(object.metadata.namespace, object.metadata.name), object);
      return send(res, 201, object);
    }
    const ns = namespace ?? "default";
    const object = name ? store.get(key(ns, name)) : undefined;
    if (!object)
      return status(res, 404, "NotFound", `${resource} "${name}" not found`, { name, kind: resource });
    if (subresource === "log" && method === "GET") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`starting ${name}\nconnecting to postgres://app:hunter2@db.internal:5432/app\nready\n`);
      return;
    }
    if (subresource) return status(res, 404, "NotFound", `subresource ${subresource} is not served here`);
    if (method === "GET") {
      if (table) return send(res, 200, tableOf(resource, [object]));
      return send(res, 200, object);
    }
    if (method === "DELETE") {
      store.delete(key(ns, name as string));
      const gone = {
        ...object,
        metadata: { ...object.metadata, deletionTimestamp: new Date().toISOString() },
      };
      return send(res, 200, gone);
    }
    return status(res, 405, "MethodNotAllowed", `${method} is not supported here`);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) status(res, 500, "InternalError", String(error));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://${LOOPBACK}:${port}`,
    port,
    received,
    pods,
    secrets,
    emit(resource, type, object) {
      for (const watch of watches) {
        if (watch.resource !== resource) continue;
        if (watch.namespace && watch.namespace !== object.metadata.namespace) continue;
        watch.res.write(`${JSON.stringify({ type, object })}\n`);
      }
    },
    writeRaw(resource, text) {
      for (const watch of watches) if (watch.resource === resource) watch.res.write(text);
    },
    watchers: () => watches.size,
    async stop() {
      for (const watch of watches) watch.res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function sendYaml(res: ServerResponse, code: number, body: unknown): void {
  const text = stringify(body);
  res.writeHead(code, { "content-type": "application/yaml", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function status(res: ServerResponse, code: number, reason: string, message: string, details?: object): void {
  sendJson(res, code, {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  });
}

/** A server-side Table, as `kubectl get` asks for; row objects are PartialObjectMetadata. */
function tableOf(resource: string | undefined, objects: KubeObject[]) {
  const columns =
    resource === "pods" ? ["Name", "Ready", "Status", "Restarts", "Age"] : ["Name", "Type", "Data", "Age"];
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion: String(resourceVersion) },
    columnDefinitions: columns.map((name) => ({
      name,
      type: name === "Restarts" || name === "Data" ? "integer" : "string",
      format: name === "Name" ? "name" : "",
      description: name,
      priority: 0,
    })),
    rows: objects.map((o) => ({
      cells:
        resource === "pods"
          ? [o.metadata.name, "1/1", "Running", 0, "5m"]
          : [o.metadata.name, o.type, Object.keys((o.data as object) ?? {}).length, "5m"],
      object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata },
    })),
  };
}
