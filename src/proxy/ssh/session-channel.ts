import type { ClientChannel, PseudoTtyInfo, ServerChannel, Session as SshSession } from "ssh2";
import type { ClassifiedCommand } from "../../domain/policy/command.ts";
import { classifyExec } from "../../gate/classify/ssh.ts";
import type { ContentRule } from "../../gate/masking/index.ts";
import type { ConnectionScope } from "./connection.ts";
import { DENIED_EXIT_STATUS, denialLine, type Outcome, requestCommand } from "./decision.ts";
import { contentRules } from "./masking.ts";
import { ExecCapture, type OutputSink, ShellRecorder } from "./recorder.ts";
import { relay, type UpstreamEnd, watchEnd } from "./relay.ts";

type SshCommand = Extract<ClassifiedCommand, { protocol: "ssh" }>;

/** sftp's bytes are file transfers, not terminal output: decided and completed, not kept. */
const UNRECORDED: OutputSink = { write() {}, finish: async () => ({ truncatedBytes: 0 }) };

/**
 * One SSH session channel from the agent: pty, env and window size are kept for the upstream;
 * the one "real" request (exec, shell, or subsystem sftp) is decided through the gate, then
 * run upstream and relayed (masked, recorded) or refused with a stderr line and status 126.
 */
export function handleSession(
  channel: SshSession,
  pending: Promise<ConnectionScope>,
  connection: { track<T>(work: Promise<T>): Promise<T>; envAllowed(name: string): boolean },
): void {
  let pty: PseudoTtyInfo | undefined;
  const env: Record<string, string> = {};
  let running: ClientChannel | undefined;

  channel.on("pty", (accept, _reject, info) => {
    pty = info;
    accept?.();
  });
  channel.on("window-change", (accept, _reject, info) => {
    if (pty) Object.assign(pty, { rows: info.rows, cols: info.cols, width: info.width, height: info.height });
    running?.setWindow(info.rows, info.cols, info.height, info.width);
    accept?.();
  });
  channel.on("env", (accept, reject, info) => {
    if (connection.envAllowed(info.key)) {
      env[info.key] = info.val;
      accept?.();
    } else reject?.();
  });
  channel.on("signal", (_accept, _reject, info) => {
    try {
      running?.signal(info.name);
    } catch {
      // not a signal name the protocol knows: ignored, as sshd does
    }
  });
  for (const [event, request] of [
    ["x11", "x11"],
    ["auth-agent", "agent_forward"],
  ] as const) {
    channel.on(event, (_accept: unknown, reject: (() => void) | undefined) => {
      // Decided and recorded; relaying either is not supported, so even an allow is answered with a refusal.
      const text = request === "x11" ? "x11-req" : "auth-agent-req@openssh.com";
      void connection
        .track(pending.then((scope) => scope.decide(requestCommand(request, text))))
        .finally(() => reject?.());
    });
  }

  channel.on("exec", (accept, _reject, info) => {
    const agent = accept();
    const command: SshCommand = {
      protocol: "ssh",
      text: info.command,
      ssh: classifyExec(info.command),
    };
    void connection.track(
      run(agent, command, (upstream) =>
        open((cb) => upstream.exec(info.command, { env, ...(pty ? { pty: ptyOptions(pty) } : {}) }, cb)),
      ),
    );
  });
  channel.on("shell", (accept) => {
    const agent = accept();
    const command = requestCommand(
      "shell",
      "shell",
      pty ? { pty: { term: pty.term, cols: pty.cols, rows: pty.rows } } : {},
    );
    void connection.track(
      run(agent, command, (upstream) =>
        open((cb) => upstream.shell(pty ? ptyOptions(pty) : false, { env }, cb)),
      ),
    );
  });
  channel.on("subsystem", (accept, reject, info) => {
    if (info.name !== "sftp") return reject?.();
    const agent = accept();
    void connection.track(
      run(agent, requestCommand("sftp", "subsystem sftp"), (upstream) =>
        open((cb) => upstream.subsys("sftp", cb)),
      ),
    );
  });

  async function run(
    agent: ServerChannel,
    command: SshCommand,
    start: (upstream: import("ssh2").Client) => ReturnType<typeof open>,
  ): Promise<void> {
    const tell = (line: string) => agent.stderr.write(`${line}\r\n`);
    const fail = (line: string, status: number) => {
      tell(line);
      agent.exit(status);
      agent.end();
    };
    let scope: ConnectionScope;
    let upstream: import("ssh2").Client;
    try {
      scope = await pending;
      upstream = await scope.upstream();
    } catch (error) {
      return fail(`sluice: ${(error as Error).message}`, 255);
    }
    const outcome: Outcome = await scope.decide(command, tell);
    if (outcome.kind === "deny") {
      if (outcome.commandId) void scope.completeDenied(outcome, scope.signal.aborted);
      return fail(denialLine(outcome), DENIED_EXIT_STATUS);
    }
    const startedAt = performance.now();
    // sftp is a binary protocol: masking would corrupt it, and its bytes are not terminal output.
    const sftp = command.ssh.request === "sftp";
    let rules: ContentRule[];
    let remote: ClientChannel;
    let end: UpstreamEnd;
    try {
      rules = sftp ? [] : contentRules(scope.policy(), outcome.masking, scope.config.maskSecretsByDefault);
      ({ channel: remote, end } = await start(upstream));
    } catch (error) {
      void scope.complete(outcome.commandId, startedAt, {
        status: "error",
        message: (error as Error).message,
      });
      return fail(`sluice: cannot run it: ${(error as Error).message}`, 255);
    }
    running = remote;
    const shell = command.ssh.request === "shell";
    const sink: OutputSink = shell
      ? new ShellRecorder(scope.gate, scope.session, scope.config.recording, () => {
          tell("sluice: the session can no longer be recorded, so it ends");
          remote.close();
        })
      : sftp
        ? UNRECORDED
        : new ExecCapture(scope.config.recording.execOutputBytes);
    const result = await relay(agent, remote, end, {
      rules,
      maxCarry: scope.config.maskMaxCarry,
      masker: (rules, maxCarry) => scope.masks.stream(rules, maxCarry),
      sink,
      recordStdin: shell && scope.config.recording.stdin,
    });
    running = undefined;
    // The gate makes a completion durable with the session's next record (or shortly after);
    // the connection's end waits for it before SessionEnded, so the agent need not.
    void scope.complete(outcome.commandId, startedAt, { exit: result.exit, masked: result.masked, sink });
    result.finish();
  }
}

function open(
  begin: (cb: (error: Error | undefined, channel: ClientChannel) => void) => void,
): Promise<{ channel: ClientChannel; end: UpstreamEnd }> {
  return new Promise((resolve, reject) =>
    begin((error, channel) => (error ? reject(error) : resolve({ channel, end: watchEnd(channel) }))),
  );
}

function ptyOptions(pty: PseudoTtyInfo) {
  return {
    rows: pty.rows,
    cols: pty.cols,
    height: pty.height,
    width: pty.width,
    term: pty.term,
    modes: pty.modes,
  };
}
