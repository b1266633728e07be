import type { ClassifiedCommand } from "../domain/policy/command.ts";

/** Approvals that cover identical re-runs until `until` (policy `reuseWithin`), by rule and command text. */
export type Grants = Map<string, { approvalId: string; until: number }>;

export function grantKey(rule: string | null, command: ClassifiedCommand): string {
  return `${rule}\u0000${command.text}`;
}

/** A sub-task's sessions share its grants: an approved re-run is covered in any of them within the window. */
export class TaskGrants {
  private readonly byTask = new Map<string, Grants>();

  /** The grants of a task (shared), or a session's own when it has no task. */
  for(taskId: string | undefined): Grants {
    if (!taskId) return new Map();
    let grants = this.byTask.get(taskId);
    if (!grants) {
      grants = new Map();
      this.byTask.set(taskId, grants);
    }
    return grants;
  }

  /** Drops lapsed grants, and the task's entry once none is left. */
  prune(taskId: string | undefined, now: number): void {
    const grants = taskId ? this.byTask.get(taskId) : undefined;
    if (!grants || !taskId) return;
    for (const [key, grant] of grants) if (grant.until <= now) grants.delete(key);
    if (grants.size === 0) this.byTask.delete(taskId);
  }
}
