import type { ClassifiedCommand, SshFacts } from "../../domain/policy/command.ts";
import type { Gate, Session } from "../../gate/gate.ts";

/**
 * One SSH request through the gate: decide, and when held, tell the agent on stderr which
 * approval it waits for and how an approver releases it, then wait (the wait ends when the
 * agent disconnects). Every request kind is decided and recorded, not only exec.
 */

export type Outcome =
  | { kind: "allow"; commandId: string; masking?: string; held: boolean }
  | { kind: "deny"; commandId: string | null; reason: string; rule: string | null; held: boolean };

/** Exit status an agent sees when Sluice refuses a command (like a shell's "cannot execute"). */
export const DENIED_EXIT_STATUS = 126;

/** Requests other than exec run what no classifier can see, so they carry the unknown program "?":
 * only a rule that names the request (`ssh: { requests: [shell] }`) can allow them. */
export function requestCommand(
  request: Exclude<SshFacts["request"], "exec">,
  text: string,
  extra: Record<string, unknown> = {},
): Extract<ClassifiedCommand, { protocol: "ssh" }> {
  const ssh: SshFacts = { ...extra, request, programs: ["?"], sudo: false };
  return { protocol: "ssh", text, ssh };
}

export async function decideRequest(input: {
  gate: Gate;
  session: Session;
  command: ClassifiedCommand;
  holdNotice: string;
  /** Writes a line to the agent (stderr); absent where there is no channel to write to. */
  tell?: (line: string) => void;
  signal: AbortSignal;
}): Promise<Outcome> {
  const { gate, session, command, tell } = input;
  let verdict: Awaited<ReturnType<Gate["decide"]>>;
  try {
    verdict = await gate.decide(session, command);
  } catch (error) {
    return {
      kind: "deny",
      commandId: null,
      reason: `the gate could not decide: ${(error as Error).message}`,
      rule: null,
      held: false,
    };
  }
  if (verdict.kind === "allow") return { ...verdict, held: false };
  if (verdict.kind === "deny") return { ...verdict, held: false };
  tell?.(
    input.holdNotice
      .replaceAll("{approvalId}", verdict.approvalId)
      .replaceAll("{rule}", verdict.rule)
      .replaceAll("{command}", command.text),
  );
  const ended = await verdict.wait(input.signal);
  if (ended.kind === "allow") {
    tell?.(`sluice: approval ${verdict.approvalId} granted; running`);
    return { ...ended, held: true };
  }
  return { ...ended, held: true };
}

export function denialLine(outcome: Extract<Outcome, { kind: "deny" }>): string {
  const by = outcome.rule ? ` (rule ${outcome.rule})` : "";
  return `sluice: denied${by}: ${outcome.reason}`;
}
