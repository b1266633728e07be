/**
 * What must be true before the gateway takes traffic. Parts register a check as they start
 * (store open, projections caught up, …); /readyz reports each one.
 */
export class Readiness {
  private readonly checks = new Map<string, () => boolean>();

  register(name: string, check: () => boolean): void {
    this.checks.set(name, check);
  }

  report(): { ready: boolean; checks: Record<string, boolean> } {
    const checks: Record<string, boolean> = {};
    for (const [name, check] of this.checks) checks[name] = safe(check);
    return { ready: this.checks.size > 0 && Object.values(checks).every(Boolean), checks };
  }
}

function safe(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}
