import { type OutgoingHttpHeaders, type ServerResponse, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";

/**
 * The gateway's own answers. Plain HTTP targets get a small JSON object; Kubernetes targets
 * get a `Status` object (kind Status, status Failure, reason, code, message), which kubectl
 * and client libraries print as `Error from server (<reason>): <message>`.
 */

export interface Reply {
  status: number;
  /** Kubernetes StatusReason (`Forbidden`, `Unauthorized`, …); lower-cased as the plain `error`. */
  reason: string;
  message: string;
  /** Extra fields: plain replies carry them at the top level, Kubernetes ones in `details`. */
  details?: Record<string, unknown>;
  headers?: OutgoingHttpHeaders;
  /** Answer as the Kubernetes API would (a Status object). */
  kubernetes?: boolean;
}

export function replyBody(reply: Reply): string {
  if (reply.kubernetes) {
    return JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: reply.message,
      reason: reply.reason,
      ...(reply.details ? { details: reply.details } : {}),
      code: reply.status,
    });
  }
  return JSON.stringify({ error: snake(reply.reason), message: reply.message, ...reply.details });
}

export interface Replier {
  /** True once something was sent: a reply can no longer be made, only the connection cut. */
  readonly sent: boolean;
  send(reply: Reply): void;
}

/** Replies on a ServerResponse. */
export function responseReplier(res: ServerResponse): Replier {
  return {
    get sent() {
      return res.headersSent;
    },
    send(reply) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = replyBody(reply);
      res.writeHead(reply.status, {
        ...reply.headers,
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
    },
  };
}

/** Replies on the raw socket of an upgrade request (no ServerResponse exists for those). */
export function socketReplier(socket: Duplex): Replier {
  let sent = false;
  return {
    get sent() {
      return sent;
    },
    send(reply) {
      if (sent) return;
      sent = true;
      const body = replyBody(reply);
      const headers: OutgoingHttpHeaders = {
        ...reply.headers,
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        connection: "close",
      };
      let head = `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ""}\r\n`;
      for (const [name, value] of Object.entries(headers))
        if (value !== undefined) head += `${name}: ${value}\r\n`;
      socket.end(`${head}\r\n${body}`);
    },
  };
}

function snake(reason: string): string {
  return reason.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}
