import ssh2, { type AuthContext } from "ssh2";
import type { PolicySnapshot } from "../../domain/policy/decide.ts";
import type { Target } from "../../domain/policy/document.ts";
import { globMatch } from "../../domain/policy/match.ts";
import { isSluiceError } from "../../errors.ts";
import type { Gate, Principal } from "../../gate/gate.ts";
import { findTarget } from "../context.ts";

/**
 * Who the agent is and where it goes, from the SSH sign-in.
 *
 * User name: `<target>` (the upstream login is the target's `user`) or `<login>@<target>`
 * (`ssh -p 12222 deploy@web-1@gateway`; the login must be the target's `user` or match its
 * `logins`). With a gateway credential the name may also be just `<login>`: the credential
 * names the target.
 * Secret: password = gateway credential or OIDC token; keyboard-interactive asks for the same;
 * a public key listed in the target's `agentKeys` stands for that identity.
 */

export interface AgentLogin {
  principal: Principal;
  target: Target;
  login: string;
}

export const AUTH_METHODS: ssh2.AuthenticationType[] = ["publickey", "password", "keyboard-interactive"];

export function splitUserName(name: string): { target: string; login?: string } {
  const at = name.lastIndexOf("@");
  return at === -1 ? { target: name } : { login: name.slice(0, at), target: name.slice(at + 1) };
}

/** Resolves a sign-in attempt; a refusal is an Error whose message says why (logged, never sent). */
export async function authenticateAgent(
  ctx: AuthContext,
  gate: Gate,
  policy: PolicySnapshot | null,
): Promise<AgentLogin> {
  const name = splitUserName(ctx.username);
  switch (ctx.method) {
    case "password":
      return withSecret(ctx.password, ctx.username, name, gate, policy);
    case "keyboard-interactive": {
      const answer = await new Promise<string>((resolve) =>
        ctx.prompt([{ prompt: "Sluice token: ", echo: false }], "Sluice", "", (answers) =>
          resolve(answers[0] ?? ""),
        ),
      );
      return withSecret(answer, ctx.username, name, gate, policy);
    }
    case "publickey": {
      const target = sshTarget(policy, name.target);
      const presented = ctx.key.data.toString("base64");
      const entry = target.agentKeys?.find((k) => k.key.trim().split(/\s+/)[1] === presented);
      if (!entry) throw new Error(`this key is not among the agentKeys of ${target.name}`);
      if (ctx.signature && ctx.blob) {
        const parsed = ssh2.utils.parseKey(entry.key);
        const key = Array.isArray(parsed) ? parsed[0] : parsed;
        if (!key || key instanceof Error || !key.verify(ctx.blob, ctx.signature, ctx.hashAlgo))
          throw new Error("the key's signature does not verify");
      }
      return {
        principal: { subject: entry.subject, groups: entry.groups },
        target,
        login: loginFor(target, name.login),
      };
    }
    default:
      throw new Error(`method ${ctx.method} is not offered`);
  }
}

async function withSecret(
  secret: string,
  userName: string,
  name: { target: string; login?: string },
  gate: Gate,
  policy: PolicySnapshot | null,
): Promise<AgentLogin> {
  let principal: Principal;
  try {
    principal = await gate.authenticate(secret);
  } catch (error) {
    throw new Error(isSluiceError(error) ? error.message : "the token was refused");
  }
  const scoped = principal.credential?.target;
  const named = findTarget(policy, name.target);
  // `ssh deploy@gateway` with a credential: the credential names the target, the name is the login.
  if (!named && scoped && name.login === undefined) {
    const target = sshTarget(policy, scoped);
    return { principal, target, login: loginFor(target, userName) };
  }
  const target = sshTarget(policy, name.target);
  if (scoped && scoped !== target.name)
    throw new Error(`this credential is for ${scoped}, not ${target.name}`);
  return { principal, target, login: loginFor(target, name.login) };
}

function sshTarget(policy: PolicySnapshot | null, name: string): Target {
  const target = findTarget(policy, name);
  if (!target) throw new Error(`no target named "${name}"`);
  if (target.protocol !== "ssh") throw new Error(`target ${name} is not an SSH target`);
  return target;
}

function loginFor(target: Target, asked: string | undefined): string {
  const login = asked && asked.length > 0 ? asked : target.user;
  if (!login) throw new Error(`target ${target.name} has no user: sign in as <login>@${target.name}`);
  if (login !== target.user && !(target.logins && globMatch(target.logins, login)))
    throw new Error(`login ${login} is not allowed on ${target.name}`);
  return login;
}
