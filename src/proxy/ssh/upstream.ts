import ssh2 from "ssh2";
import { resolveSecret } from "../../config/secret-ref.ts";
import type { Target } from "../../domain/policy/document.ts";
import { SluiceError } from "../../errors.ts";
import { checkHostKey, knownHostsLines, parseKnownHosts } from "./known-hosts.ts";

/**
 * The gateway's own SSH connection to a target: the target's credential (a private key or a
 * password, by reference), and its host key checked against `knownHosts` before anything is
 * sent. The agent never sees the upstream secret.
 */

export interface UpstreamOptions {
  target: Target;
  login: string;
  timeoutMs: number;
  /** Stands in for the agent's SSH agent when the agent forwards it (see agent-x11.ts). */
  agent?: ssh2.BaseAgent;
}

export function parseAddress(address: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (bracketed) return { host: bracketed[1] as string, port: Number(bracketed[2] ?? 22) };
  const colon = address.lastIndexOf(":");
  if (colon === -1 || address.indexOf(":") !== colon) return { host: address, port: 22 };
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

export function connectUpstream(options: UpstreamOptions): Promise<ssh2.Client> {
  const { target, login } = options;
  const { host, port } = parseAddress(target.address);
  if (!target.knownHosts) {
    throw new SluiceError(
      "FORBIDDEN",
      `target ${target.name} has no knownHosts: unknown host keys are refused`,
    );
  }
  if (!target.credential) throw new SluiceError("CONFIG_INVALID", `target ${target.name} has no credential`);
  const known = parseKnownHosts(knownHostsLines(target.knownHosts));
  const secret = resolveSecret(target.credential, `target ${target.name}`);
  const auth = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(secret)
    ? { privateKey: `${secret}\n` }
    : { password: secret };
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let refused: string | undefined;
    client.once("ready", () => {
      client.setNoDelay(true); // as on the agent side: no Nagle delay for small packets
      client.removeAllListeners("error");
      client.on("error", () => {}); // later errors end the connection; its `close` tells the owner
      resolve(client);
    });
    client.once("error", (error) => {
      client.end();
      reject(
        refused
          ? new SluiceError("FORBIDDEN", `target ${target.name}: ${refused}`)
          : new Error(`cannot reach target ${target.name} (${host}:${port}): ${error.message}`),
      );
    });
    client.connect({
      host,
      port,
      username: login,
      ...auth,
      // Sign-in uses only the target's credential, never the agent forwarded for the target's use.
      authHandler: ["none", "password" in auth ? "password" : "publickey"],
      ...(options.agent ? { agent: options.agent } : {}),
      readyTimeout: options.timeoutMs,
      hostVerifier: (key: Buffer) => {
        const check = checkHostKey(known, host, port, key);
        if (!check.ok) refused = check.reason;
        return check.ok;
      },
    });
  });
}
