/** Stream names: one place that knows how ids map to streams. */

export const POLICY_STREAM = "policy";
export const SEALS_STREAM = "$seals";

export const sessionStream = (sessionId: string) => `session-${sessionId}`;
export const approvalStream = (approvalId: string) => `approval-${approvalId}`;
export const credentialStream = (credentialId: string) => `credential-${credentialId}`;
export const targetStream = (name: string) => `target-${name}`;
export const taskStream = (taskId: string) => `task-${taskId}`;
export const notificationStream = (approvalId: string) => `notification-${approvalId}`;
export const exportStream = (exportId: string) => `export-${exportId}`;

/** The category of a stream: the part before the first dash (`session-42` → `session`). */
export function streamCategory(stream: string): string {
  const dash = stream.indexOf("-");
  return dash === -1 ? stream : stream.slice(0, dash);
}
