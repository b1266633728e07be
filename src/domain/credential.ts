import type { AccessLevel, Grant } from "./policy/document.ts";
import { accessLevels } from "./policy/document.ts";
import type { Identity } from "./policy/match.ts";
import { globMatch, whoMatches } from "./policy/match.ts";

/**
 * Sub-task credentials as a pure decider over the `credential-<id>` stream: issued within
 * what a grant allows, then used, revoked or expired; nothing follows revocation or expiry.
 */

export type CredentialState =
  | { status: "none" }
  | {
      status: "active" | "revoked" | "expired";
      subject: string;
      target: string;
      access: string;
      expiresAt: string;
      /** The ephemeral upstream role made for it, if any, and whether it is gone. */
      role?: string;
      roleDropped?: boolean;
    };

export const initialCredentialState: CredentialState = { status: "none" };

export type CredentialEvent =
  | {
      type: "CredentialIssued";
      data: {
        subject: { subject: string };
        target: string;
        access: string;
        expiresAt: string;
        upstream?: { role?: string };
      };
    }
  | {
      type:
        | "CredentialUsed"
        | "CredentialRevoked"
        | "CredentialExpired"
        | "UpstreamRoleCreated"
        | "UpstreamRoleDropped";
      data: unknown;
    };

export function evolveCredential(state: CredentialState, event: CredentialEvent): CredentialState {
  switch (event.type) {
    case "CredentialIssued":
      return {
        status: "active",
        subject: event.data.subject.subject,
        target: event.data.target,
        access: event.data.access,
        expiresAt: event.data.expiresAt,
        ...(event.data.upstream?.role ? { role: event.data.upstream.role } : {}),
      };
    case "CredentialRevoked":
      return state.status === "active" ? { ...state, status: "revoked" } : state;
    case "CredentialExpired":
      return state.status === "active" ? { ...state, status: "expired" } : state;
    case "UpstreamRoleDropped":
      return state.status === "none" ? state : { ...state, roleDropped: true };
    default:
      return state;
  }
}

export interface IssueRequest {
  identity: Identity;
  target: string;
  access: AccessLevel;
  ttlMs: number;
}

/** The grant that allows this credential, or the reason none does. */
export function grantFor(grants: Grant[], request: IssueRequest): { grant: Grant } | { refused: string } {
  const reaching = grants.filter(
    (g) => whoMatches(g.who, request.identity) && globMatch(g.targets, request.target),
  );
  if (reaching.length === 0)
    return { refused: `${request.identity.subject} has no access grant for ${request.target}` };
  const rank = (level: AccessLevel) => accessLevels.indexOf(level);
  const enough = reaching.filter((g) => rank(g.level) >= rank(request.access));
  if (enough.length === 0) {
    return {
      refused: `no grant gives ${request.identity.subject} ${request.access} access to ${request.target}`,
    };
  }
  const within = enough.filter((g) => request.ttlMs <= g.maxTtl);
  if (within.length === 0) {
    const longest = Math.max(...enough.map((g) => g.maxTtl));
    return {
      refused: `a ${request.access} credential for ${request.target} may last at most ${longest / 1000}s`,
    };
  }
  return { grant: within[0] as Grant };
}

/** Null when the credential may be used now; else why not. */
export function usable(state: CredentialState, now: Date): string | null {
  if (state.status === "none") return "unknown credential";
  if (state.status === "revoked") return "credential revoked";
  if (state.status === "expired" || Date.parse(state.expiresAt) <= now.getTime()) return "credential expired";
  return null;
}
