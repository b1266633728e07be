import type { Duplex } from "node:stream";
import type { Connection } from "ssh2";
import type { ConnectionScope } from "./connection.ts";
import { requestCommand } from "./decision.ts";

/**
 * Port forwarding through the gateway, each one decided and recorded (request `port_forward`):
 * local (`ssh -L`, `-W`: direct-tcpip and direct-streamlocal channels) opened from the
 * upstream host; remote (`ssh -R`: tcpip-forward) bound on the upstream host, its connections
 * carried back to the agent. Forwarded bytes are an arbitrary protocol: relayed, not masked.
 * Remote forwarding of Unix sockets is refused.
 */
export function handleForwarding(
  conn: Connection,
  scope: () => Promise<ConnectionScope>,
  /** A channel slot, or null when the connection has its maximum open; call the release when done. */
  reserve: () => (() => void) | null,
  track: <T>(work: Promise<T>) => Promise<T>,
): void {
  const bound = new Set<string>();

  conn.on("tcpip", (accept, reject, info) => {
    const release = reserve();
    if (!release) return reject();
    const refuse = () => {
      release();
      reject();
    };
    const where = `${info.destIP}:${info.destPort}`;
    void track(
      forward(
        scope,
        `direct-tcpip ${where}`,
        { direction: "local", destination: where },
        refuse,
        (upstream) =>
          upstream.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (error, remote) =>
            error ? refuse() : pipeBoth(accept(), remote, release),
          ),
      ),
    );
  });

  conn.on("openssh.streamlocal", (accept, reject, info) => {
    const release = reserve();
    if (!release) return reject();
    const refuse = () => {
      release();
      reject();
    };
    void track(
      forward(
        scope,
        `direct-streamlocal ${info.socketPath}`,
        { direction: "local", destination: info.socketPath },
        refuse,
        (upstream) =>
          upstream.openssh_forwardOutStreamLocal(info.socketPath, (error, remote) =>
            error ? refuse() : pipeBoth(accept(), remote, release),
          ),
      ),
    );
  });

  conn.on("request", (accept, reject, name, info) => {
    const ok = (port?: number) => (accept as ((port?: number) => void) | undefined)?.(port);
    const no = () => reject?.();
    if (name === "cancel-tcpip-forward") {
      const key = `${info.bindAddr}:${info.bindPort}`;
      if (!bound.delete(key)) return no();
      void scope()
        .then((s) => s.upstream())
        .then((upstream) =>
          upstream.unforwardIn(info.bindAddr, info.bindPort, (error) => (error ? no() : ok())),
        )
        .catch(no);
      return;
    }
    if (name !== "tcpip-forward") {
      // Unix-socket remote forwarding: recorded and refused.
      void track(
        scope().then((s) => s.decide(requestCommand("port_forward", name, { direction: "remote" }))),
      );
      return no();
    }
    const { bindAddr, bindPort } = info as { bindAddr: string; bindPort: number };
    void track(
      forward(
        scope,
        `tcpip-forward ${bindAddr}:${bindPort}`,
        { direction: "remote", destination: `${bindAddr}:${bindPort}` },
        no,
        (upstream) =>
          upstream.forwardIn(bindAddr, bindPort, (error, port) => {
            if (error) return no();
            bound.add(`${bindAddr}:${bindPort || port}`);
            ok(bindPort === 0 ? port : undefined);
          }),
      ),
    );
  });

  // Connections to a remote forward arrive on the upstream; each goes back to the agent.
  let listening = false;
  const listen = (upstream: import("ssh2").Client) => {
    if (listening) return;
    listening = true;
    upstream.on("tcp connection", (details, acceptRemote, rejectRemote) => {
      const release = bound.has(`${details.destIP}:${details.destPort}`) ? reserve() : null;
      if (!release) return rejectRemote();
      conn.forwardOut(details.destIP, details.destPort, details.srcIP, details.srcPort, (error, agent) => {
        if (!error) return pipeBoth(agent, acceptRemote(), release);
        release();
        rejectRemote();
      });
    });
  };

  async function forward(
    scope: () => Promise<ConnectionScope>,
    text: string,
    facts: Record<string, unknown>,
    refuse: () => void,
    open: (upstream: import("ssh2").Client) => void,
  ): Promise<void> {
    try {
      const s = await scope();
      const upstream = await s.upstream();
      const outcome = await s.decide(requestCommand("port_forward", text, facts));
      if (outcome.kind === "deny") {
        s.log.info({ request: text, reason: outcome.reason }, "ssh forwarding refused");
        return refuse();
      }
      listen(upstream);
      open(upstream);
    } catch {
      refuse();
    }
  }
}

/** Pipes two channels both ways; `release` (the channel slot) runs once, when either closes. */
export function pipeBoth(a: Duplex, b: Duplex, release: () => void): void {
  let released = false;
  const done = () => {
    if (!released) release();
    released = true;
  };
  a.once("close", done);
  b.once("close", done);
  a.pipe(b).on("error", () => a.destroy());
  b.pipe(a).on("error", () => b.destroy());
  a.on("error", () => b.destroy());
  b.on("error", () => a.destroy());
}
