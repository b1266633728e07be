import type { IdentityRef } from "../src/events/index.ts";
import type { VerifiedIdentity } from "../src/identity/oidc.ts";
import { apiError, forbidden } from "./errors.ts";

/** Who calls the API, and which roles their groups give them (config `api.roles`). */

export type Role = "auditor" | "approver" | "admin" | "agent";
export const ROLES: readonly Role[] = ["auditor", "approver", "admin", "agent"];

/** Role → the OIDC groups that hold it. */
export type RoleMapping = Record<Role, string[]>;

export class Viewer {
  readonly roles: ReadonlySet<Role>;

  constructor(
    readonly subject: string,
    readonly issuer: string,
    readonly groups: readonly string[],
    mapping: RoleMapping,
    /** When the token expires: a subscription ends then. */
    readonly expiresAt: Date,
  ) {
    this.roles = new Set(ROLES.filter((role) => mapping[role].some((group) => groups.includes(group))));
  }

  has(role: Role): boolean {
    return this.roles.has(role);
  }

  /** Throws FORBIDDEN unless the caller holds one of `roles`. */
  require(roles: readonly Role[], what: string): void {
    if (!roles.some((role) => this.roles.has(role))) {
      throw forbidden(`${what} needs the role ${roles.map((r) => r.toUpperCase()).join(" or ")}`);
    }
  }

  /** May vote on (and so see) an approval asked of these groups. */
  inAnyGroup(groups: readonly string[]): boolean {
    return groups.some((group) => this.groups.includes(group));
  }

  identity(kind: IdentityRef["kind"]): IdentityRef {
    return { subject: this.subject, issuer: this.issuer, groups: [...this.groups], kind };
  }
}

export interface TokenVerifier {
  verify(token: string): Promise<VerifiedIdentity>;
}

/** The bearer token of a request, verified; every failure is UNAUTHENTICATED with a reason. */
export async function authenticate(
  authorization: string | null,
  verifier: TokenVerifier | undefined,
  mapping: RoleMapping,
): Promise<Viewer> {
  if (!verifier) {
    throw apiError("UNAUTHENTICATED", "this gateway has no OIDC issuer configured (identity.oidc)", {
      reason: "not_configured",
    });
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  if (!match) {
    throw apiError("UNAUTHENTICATED", "an OIDC bearer token is required (Authorization: Bearer …)", {
      reason: "missing",
    });
  }
  const identity = await verifier.verify(match[1] as string);
  return new Viewer(identity.subject, identity.issuer, identity.groups, mapping, identity.expiresAt);
}
