import { resolveSecret } from "../../config/secret-ref.ts";
import type { Target } from "../../domain/policy/document.ts";
import type { ProxyContext } from "../context.ts";
import { PgCatalog } from "./catalog.ts";
import { CatalogResultPlanner, type ResultPlanner } from "./result-plan.ts";

/**
 * One result planner per target, over one catalog (metadata connection as the gateway's own
 * account) shared by every session to that target; rebuilt when the target's credential changes.
 */
export class PostgresPlanners {
  private readonly planners = new Map<
    string,
    { url: string; planner: CatalogResultPlanner; catalog: PgCatalog }
  >();

  constructor(
    private readonly context: ProxyContext,
    private readonly ttlMs: number,
  ) {}

  forTarget(target: Target): ResultPlanner {
    const url = metadataUrl(target);
    const cached = this.planners.get(target.name);
    if (cached?.url === url) return cached.planner;
    cached?.catalog.close().catch(() => {});
    const catalog = new PgCatalog({ url, ttlMs: this.ttlMs, log: this.context.log });
    const planner = new CatalogResultPlanner(catalog);
    this.planners.set(target.name, { url, planner, catalog });
    return planner;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.planners.values()].map((p) => p.catalog.close()));
    this.planners.clear();
  }
}

/** The gateway's own account on the target, as a URL (the credential is one, or a bare password for `user`). */
function metadataUrl(target: Target): string {
  const secret = target.credential
    ? resolveSecret(target.credential, `target ${target.name} credential`)
    : "";
  if (/^postgres(ql)?:\/\//i.test(secret)) return secret;
  const user = encodeURIComponent(target.user ?? "postgres");
  const password = secret ? `:${encodeURIComponent(secret)}` : "";
  return `postgresql://${user}${password}@${target.address}/postgres`;
}
