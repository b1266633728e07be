import {
  type ClientRequest,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { resolveSecret } from "../../config/secret-ref.ts";
import type { Target } from "../../domain/policy/document.ts";
import { SluiceError } from "../../errors.ts";

/**
 * How the gateway reaches one HTTP or Kubernetes target: its base URL, a keep-alive agent
 * (TLS with the target's CA and client certificate), and the gateway's own credential for the
 * Authorization header. The agent's own Authorization never goes upstream, and the credential
 * never comes back: its exact text is scrubbed from response headers and bodies (`secrets`).
 */

export interface Upstream {
  base: URL;
  /** The target's base path without a trailing slash ("" for the root). */
  basePath: string;
  agent: HttpAgent;
  request: typeof httpRequest;
  authorization?: string;
  /** Literal credential text that must never reach an agent. */
  secrets: Buffer[];
}

export class Upstreams {
  // Policy snapshots keep their target objects, so most requests find theirs by identity.
  readonly #byTarget = new WeakMap<Target, Upstream>();
  readonly #byName = new Map<string, { spec: string; upstream: Upstream }>();

  /** The upstream of a target, rebuilt when its policy entry changed; throws CONFIG_INVALID. */
  get(target: Target): Upstream {
    const known = this.#byTarget.get(target);
    if (known) return known;
    const spec = JSON.stringify([
      target.address,
      target.auth,
      target.user,
      target.credential,
      target.ca,
      target.clientCert,
    ]);
    const cached = this.#byName.get(target.name);
    let upstream = cached?.upstream;
    if (cached?.spec !== spec) {
      upstream = build(target);
      cached?.upstream.agent.destroy();
      this.#byName.set(target.name, { spec, upstream });
    }
    this.#byTarget.set(target, upstream as Upstream);
    return upstream as Upstream;
  }

  close(): void {
    for (const { upstream } of this.#byName.values()) upstream.agent.destroy();
    this.#byName.clear();
  }
}

function build(target: Target): Upstream {
  let base: URL;
  try {
    base = new URL(target.address);
  } catch {
    throw new SluiceError(
      "CONFIG_INVALID",
      `target ${target.name}: address must be a base URL (https://host:port/path)`,
    );
  }
  const tls = base.protocol === "https:";
  if (!tls && base.protocol !== "http:")
    throw new SluiceError("CONFIG_INVALID", `target ${target.name}: address must be http:// or https://`);
  const what = `target ${target.name}`;
  const agentOptions = { keepAlive: true, maxSockets: 256, maxFreeSockets: 32 };
  const agent = tls
    ? new HttpsAgent({
        ...agentOptions,
        ...(target.ca ? { ca: resolveSecret(target.ca, `${what} ca`) } : {}),
        ...(target.clientCert
          ? {
              cert: resolveSecret(target.clientCert.cert, `${what} clientCert.cert`),
              key: resolveSecret(target.clientCert.key, `${what} clientCert.key`),
            }
          : {}),
      })
    : new HttpAgent(agentOptions);
  const upstream: Upstream = {
    base,
    basePath: base.pathname.replace(/\/+$/, ""),
    agent,
    request: tls ? httpsRequest : httpRequest,
    secrets: [],
  };
  const auth = target.auth ?? (target.credential ? "bearer" : "none");
  if (auth === "none" || !target.credential) return upstream;
  const secret = resolveSecret(target.credential, `${what} credential`);
  if (auth === "bearer") {
    upstream.authorization = `Bearer ${secret}`;
    upstream.secrets.push(Buffer.from(secret));
  } else {
    // basic: `user` and the credential as password, or a credential of the form user:password.
    const pair = target.user ? `${target.user}:${secret}` : secret;
    const encoded = Buffer.from(pair).toString("base64");
    upstream.authorization = `Basic ${encoded}`;
    upstream.secrets.push(Buffer.from(encoded), Buffer.from(pair.slice(pair.indexOf(":") + 1)));
  }
  return upstream;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "authorization",
  // The gateway answered the agent's 100-continue itself; the body is streamed as it comes.
  "expect",
]);

/** Kubernetes headers that would lend the gateway's credential to another identity. */
export function impersonates(headers: IncomingHttpHeaders): boolean {
  for (const name of Object.keys(headers)) if (name.startsWith("impersonate-")) return true;
  return false;
}

/** Starts the agent's request (or upgrade) to the target: `path` below the target's base path. */
export function requestUpstream(
  upstream: Upstream,
  req: IncomingMessage,
  path: string,
  options: { kubernetes: boolean; upgrade: boolean; signal: AbortSignal },
): ClientRequest {
  return upstream.request({
    agent: upstream.agent,
    protocol: upstream.base.protocol,
    hostname: upstream.base.hostname.replace(/^\[|\]$/g, ""),
    port: upstream.base.port || undefined,
    method: req.method,
    path: upstream.basePath + path,
    headers: upstreamHeaders(req.headers, upstream, options),
    signal: options.signal,
  });
}

/**
 * The request headers sent upstream: the agent's, less hop-by-hop ones and its Authorization,
 * plus the gateway's credential. Bodies are asked for uncompressed and, from Kubernetes, as
 * JSON (not protobuf or YAML), so that they can be masked.
 */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  upstream: Upstream,
  options: { kubernetes: boolean; upgrade: boolean },
): OutgoingHttpHeaders {
  const named = connectionTokens(incoming.connection);
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    headers[name] = value;
  }
  headers.host = upstream.base.host;
  headers["accept-encoding"] = "identity";
  if (options.kubernetes && typeof headers.accept === "string") headers.accept = jsonOnly(headers.accept);
  if (upstream.authorization) headers.authorization = upstream.authorization;
  if (options.upgrade && incoming.upgrade) {
    headers.connection = "Upgrade";
    headers.upgrade = incoming.upgrade;
  }
  return headers;
}

/** Response headers for the agent: hop-by-hop ones dropped, the upstream credential scrubbed. */
export function downstreamHeaders(incoming: IncomingHttpHeaders, upstream: Upstream): OutgoingHttpHeaders {
  const named = connectionTokens(incoming.connection);
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    headers[name] = Array.isArray(value)
      ? value.map((v) => scrubText(v, upstream))
      : scrubText(value, upstream);
  }
  return headers;
}

export function scrubText(text: string, upstream: Upstream): string {
  let out = text;
  for (const secret of upstream.secrets) {
    const literal = secret.toString();
    if (literal && out.includes(literal)) out = out.split(literal).join("«redacted:upstream_credential»");
  }
  return out;
}

function connectionTokens(value: string | undefined): Set<string> {
  return new Set(
    (value ?? "")
      .split(",")
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** Kubernetes can answer in protobuf or YAML too; only JSON can be masked by path (Secrets). */
const UNMASKABLE = /^(application\/vnd\.kubernetes\.protobuf|application\/(x-)?yaml|text\/yaml)/i;

function jsonOnly(accept: string): string {
  const kept = accept
    .split(",")
    .map((range) => range.trim())
    .filter((range) => range && !UNMASKABLE.test(range));
  return kept.length > 0 ? kept.join(",") : "application/json";
}
