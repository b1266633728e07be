import { createRequire } from "node:module";
import type { Client, Connection, ServerChannel } from "ssh2";

/**
 * Two things ssh2's server Connection has no public call for, done the way its own methods do
 * them: opening an `auth-agent@openssh.com` channel towards the agent (its Protocol can write
 * the CHANNEL_OPEN, the server just never exposes it), and a DISCONNECT that carries a
 * description (its `end()` always sends an empty one). Both check the internals they use and
 * fall back to refusing / a plain `end()`; the SSH tests run them against real OpenSSH.
 */

const { MAX_WINDOW, PACKET_SIZE } = createRequire(import.meta.url)("ssh2/lib/Channel.js") as {
  MAX_WINDOW: number;
  PACKET_SIZE: number;
};

interface Internals {
  _chanMgr?: { add(handler: unknown): number };
  _protocol?: {
    openssh_authAgent?(channel: number, window: number, packetSize: number): void;
    _packetRW?: {
      write: {
        allocStartKEX: number;
        alloc(size: number, force: boolean): Buffer;
        finalize(p: Buffer, force: boolean): Buffer;
      };
    };
    _cipher?: { encrypt(packet: Buffer): void };
  };
}

const SSH_MSG_DISCONNECT = 1;
const SSH_DISCONNECT_BY_APPLICATION = 11;

/** Asks the agent's client to open a channel to its SSH agent (ssh -A); the callback gets the channel. */
export function openAgentChannel(
  conn: Connection,
  cb: (error: Error | undefined, channel?: ServerChannel) => void,
): void {
  const { _chanMgr: channels, _protocol: protocol } = conn as unknown as Internals;
  if (!channels || typeof protocol?.openssh_authAgent !== "function") {
    cb(new Error("this ssh2 version cannot open agent channels"));
    return;
  }
  // The server's CHANNEL_OPEN_CONFIRMATION / FAILURE handlers call this with the channel or an error.
  const opened = (error: Error | undefined, channel?: ServerChannel) => cb(error, channel);
  opened.type = "auth-agent@openssh.com";
  const id = channels.add(opened);
  if (id === -1) cb(new Error("no free channels"));
  else protocol.openssh_authAgent(id, MAX_WINDOW, PACKET_SIZE);
}

/** Ends the connection with a reason the client shows ("Received disconnect from …: <description>"). */
export function disconnectWith(conn: Connection, description: string): void {
  const { _protocol: protocol } = conn as unknown as Internals;
  try {
    const writer = protocol?._packetRW?.write;
    const cipher = protocol?._cipher;
    if (writer && cipher) {
      const text = Buffer.from(description.slice(0, 400), "utf8");
      const p = writer.allocStartKEX;
      const packet = writer.alloc(1 + 4 + 4 + text.length + 4, true);
      packet[p] = SSH_MSG_DISCONNECT;
      packet.writeUInt32BE(SSH_DISCONNECT_BY_APPLICATION, p + 1);
      packet.writeUInt32BE(text.length, p + 5);
      text.copy(packet, p + 9);
      packet.writeUInt32BE(0, p + 9 + text.length); // language tag
      cipher.encrypt(writer.finalize(packet, true));
    }
  } catch {
    // the plain disconnect below still ends the connection
  }
  conn.end();
}

/**
 * ssh2's Client asks for agent forwarding on its first session only, but sshd grants it per
 * session: cleared, the flag lets the next session ask too (it is set again as it asks).
 */
export function rearmAgentForwarding(client: Client): void {
  const internals = client as unknown as { _agentFwdEnabled?: boolean };
  if (internals._agentFwdEnabled === true) internals._agentFwdEnabled = false;
}
