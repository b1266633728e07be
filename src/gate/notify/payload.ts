/** What an approver needs to know about a held command; built from `ApprovalRequested`. */
export interface ApprovalNotice {
  approvalId: string;
  requester: string;
  target: string;
  command: string;
  rule: string;
  approverGroups: string[];
  quorum: number;
  expiresAt: string;
  approveUrl?: string;
}

export type WebhookFormat = "json" | "slack";

const COMMAND_LIMIT = 500;

export function webhookBody(notice: ApprovalNotice, format: WebhookFormat): string {
  return JSON.stringify(format === "slack" ? slackPayload(notice) : jsonPayload(notice));
}

export function jsonPayload(notice: ApprovalNotice) {
  return { type: "approval.requested", approval: { ...notice } };
}

/** A Slack incoming-webhook body: `text` is the notification fallback, `blocks` the message. */
export function slackPayload(notice: ApprovalNotice) {
  const lines = [
    "*Approval requested*",
    `*Requester:* ${escapeMrkdwn(notice.requester)}`,
    `*Target:* ${escapeMrkdwn(notice.target)}`,
    `*Command:*\n\`\`\`${codeBlock(notice.command)}\`\`\``,
    `*Rule:* ${escapeMrkdwn(notice.rule)}`,
    `*Approvers:* ${notice.quorum} of ${notice.approverGroups.map(escapeMrkdwn).join(", ")}`,
    `*Expires:* ${escapeMrkdwn(notice.expiresAt)}`,
    `*Approval id:* ${escapeMrkdwn(notice.approvalId)}`,
  ];
  const link = notice.approveUrl ? safeLink(notice.approveUrl) : undefined;
  if (link) lines.push(`<${link}|Review and approve>`);
  return {
    text: `Approval requested: ${escapeMrkdwn(notice.requester)} on ${escapeMrkdwn(notice.target)} (${escapeMrkdwn(notice.approvalId)})`,
    blocks: [{ type: "section", text: { type: "mrkdwn", text: lines.join("\n") } }],
  };
}

// Slack's mrkdwn treats <…> as links and mentions; an agent's command must not inject either.
function escapeMrkdwn(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

function codeBlock(command: string): string {
  const cut = command.length > COMMAND_LIMIT ? `${command.slice(0, COMMAND_LIMIT)}…` : command;
  // A ``` inside the command would close the code block; a zero-width space keeps it literal.
  return escapeMrkdwn(cut).replaceAll("```", "`\u200b`\u200b`");
}

function safeLink(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return undefined;
  return parsed.href.replaceAll("|", "%7C").replaceAll("<", "%3C").replaceAll(">", "%3E");
}
