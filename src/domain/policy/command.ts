import type { AccessLevel } from "./document.ts";

/**
 * What the decision function knows about a command: the protocol-specific classification
 * produced by the classifiers in src/gate/classify, reduced to the facts rules can match.
 */

export interface SqlFacts {
  parsed: boolean;
  kinds: string[];
  relations: string[];
  functions: string[];
  flags: string[];
  readOnly: boolean;
}

export interface SshFacts {
  request: "exec" | "shell" | "sftp" | "port_forward" | "agent_forward" | "x11";
  /** Programs run by an exec command line (every command of pipelines, lists and subshells); "?" when unknown. */
  programs: string[];
  sudo: boolean;
}

export interface HttpFacts {
  method: string;
  path: string;
  /** Kubernetes API requests only. */
  verb?: string;
  group?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export type ClassifiedCommand =
  | { protocol: "postgres"; text: string; sql: SqlFacts }
  | { protocol: "ssh"; text: string; ssh: SshFacts }
  | { protocol: "http" | "kubernetes"; text: string; http: HttpFacts };

/** SQL flags that need admin access: they change objects, privileges or reach outside the database. */
const ADMIN_SQL_FLAGS = new Set([
  "drop",
  "truncate",
  "alter",
  "ddl",
  "privilege",
  "copy_program",
  "copy_file",
  "do_block",
  "dynamic_sql",
  "set_role",
  "set_session_authorization",
  "dangerous_function",
]);

const READ_VERBS = new Set(["get", "list", "watch"]);
const ADMIN_VERBS = new Set(["exec", "attach", "portforward", "proxy", "escalate", "impersonate", "bind"]);

/**
 * The access level a command needs from its grant; null when it cannot be known (unparsed
 * SQL), which no grant satisfies: only an explicit rule can allow such a command.
 */
export function requiredLevel(command: ClassifiedCommand): AccessLevel | null {
  switch (command.protocol) {
    case "postgres": {
      const { sql } = command;
      if (!sql.parsed) return null;
      if (sql.flags.some((flag) => ADMIN_SQL_FLAGS.has(flag))) return "admin";
      return sql.readOnly ? "read-only" : "read-write";
    }
    case "ssh":
      if (command.ssh.programs.includes("?")) return null; // the classifier could not tell what runs
      return command.ssh.request === "exec" || command.ssh.request === "shell" ? "read-write" : "admin";
    default: {
      const { http } = command;
      if (http.verb) {
        if (ADMIN_VERBS.has(http.verb) || (http.subresource && ADMIN_VERBS.has(http.subresource)))
          return "admin";
        return READ_VERBS.has(http.verb) ? "read-only" : "read-write";
      }
      return ["GET", "HEAD", "OPTIONS"].includes(http.method) ? "read-only" : "read-write";
    }
  }
}
