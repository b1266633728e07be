import picomatch from "picomatch";
import type { ClassifiedCommand, HttpFacts, SqlFacts, SshFacts } from "./command.ts";
import type { HttpMatch, Rule, SqlMatch, SshMatch } from "./document.ts";

/** Does a rule's `match` cover this identity, target and command? Every condition given must hold. */

export interface Identity {
  subject: string;
  groups: string[];
}

const matchers = new Map<string, (value: string) => boolean>();

/** Glob match (`*` within a segment, `**` across `/`), case-insensitive, compiled once per pattern. */
export function globMatch(patterns: string[], value: string): boolean {
  return patterns.some((pattern) => {
    let test = matchers.get(pattern);
    if (!test) {
      test = picomatch(pattern, { nocase: true, dot: true });
      matchers.set(pattern, test);
    }
    return test(value);
  });
}

const anyMatch = (patterns: string[], values: string[]) => values.some((value) => globMatch(patterns, value));

export function whoMatches(who: { subjects?: string[]; groups?: string[] }, identity: Identity): boolean {
  return Boolean(
    (who.subjects && globMatch(who.subjects, identity.subject)) ||
      (who.groups && anyMatch(who.groups, identity.groups)),
  );
}

/**
 * How a list condition meets a command with many parts (statements, relations, programs):
 * `deny` and `require_approval` fire when ANY part matches; `allow` needs EVERY part covered,
 * so a DELETE wrapped in a CTE, or `uptime; rm -rf /`, is not smuggled in under an allow rule,
 * and an allow rule naming programs or relations does not cover a command with none.
 */
type Mode = "any" | "all";

function covers(mode: Mode, values: string[], test: (value: string) => boolean): boolean {
  // A condition that names things never holds for a command that has none of them.
  return mode === "any" ? values.some(test) : values.length > 0 && values.every(test);
}

export function ruleMatches(
  rule: Rule,
  identity: Identity,
  target: string,
  command: ClassifiedCommand,
): boolean {
  const { match } = rule;
  const mode: Mode = rule.action === "allow" ? "all" : "any";
  if (match.targets && !globMatch(match.targets, target)) return false;
  if (match.who && !whoMatches(match.who, identity)) return false;
  if (match.sql && !(command.protocol === "postgres" && sqlMatches(match.sql, command.sql, mode)))
    return false;
  if (match.ssh && !(command.protocol === "ssh" && sshMatches(match.ssh, command.ssh, command.text, mode))) {
    return false;
  }
  if (match.http && !(isHttp(command) && httpMatches(match.http, command.http))) return false;
  return true;
}

function isHttp(command: ClassifiedCommand): command is Extract<ClassifiedCommand, { http: HttpFacts }> {
  return command.protocol === "http" || command.protocol === "kubernetes";
}

function sqlMatches(m: SqlMatch, sql: SqlFacts, mode: Mode): boolean {
  if (m.unparsed !== undefined) return m.unparsed === !sql.parsed;
  // Unparsed SQL has no facts to match: only `unparsed: true` covers it.
  if (!sql.parsed) return false;
  if (m.readOnly !== undefined && m.readOnly !== sql.readOnly) return false;
  const { kinds, flags, functions, relations } = m;
  if (kinds && !covers(mode, sql.kinds, (k) => globMatch(kinds, k))) return false;
  if (flags && !covers(mode, sql.flags, (f) => globMatch(flags, f))) return false;
  if (
    functions &&
    !covers(mode, sql.functions, (f) => globMatch(functions, f) || globMatch(functions, unqualified(f)))
  ) {
    return false;
  }
  if (relations && !covers(mode, sql.relations, (r) => relationMatches(relations, r))) return false;
  return true;
}

/**
 * An unqualified relation (`users`) may resolve to any schema on the search path, so it is
 * matched against the table part of each pattern (`public.users` covers `users`): a deny rule
 * on `public.users` cannot be evaded by leaving the schema out.
 */
function relationMatches(patterns: string[], relation: string): boolean {
  if (globMatch(patterns, relation)) return true;
  if (relation.includes(".")) return false;
  return patterns.some((pattern) => globMatch([pattern.slice(pattern.lastIndexOf(".") + 1)], relation));
}

function unqualified(name: string): string {
  return name.slice(name.lastIndexOf(".") + 1);
}

function sshMatches(m: SshMatch, ssh: SshFacts, text: string, mode: Mode): boolean {
  if (m.requests && !m.requests.includes(ssh.request)) return false;
  const { programs } = m;
  if (programs && !covers(mode, ssh.programs, (p) => globMatch(programs, p))) return false;
  if (m.sudo !== undefined && m.sudo !== ssh.sudo) return false;
  if (m.commandMatches && !regex(m.commandMatches).test(text)) return false;
  return true;
}

const regexes = new Map<string, RegExp>();

function regex(pattern: string): RegExp {
  let compiled = regexes.get(pattern);
  if (!compiled) {
    compiled = new RegExp(pattern);
    regexes.set(pattern, compiled);
  }
  return compiled;
}

function httpMatches(m: HttpMatch, http: HttpFacts): boolean {
  if (m.methods && !m.methods.includes(http.method.toUpperCase())) return false;
  if (m.paths && !globMatch(m.paths, http.path)) return false;
  const field = (patterns: string[] | undefined, value: string | undefined) =>
    !patterns || (value !== undefined && globMatch(patterns, value));
  return (
    field(m.verbs, http.verb) &&
    field(m.resources, http.resource) &&
    field(m.namespaces, http.namespace) &&
    field(m.subresources, http.subresource)
  );
}
