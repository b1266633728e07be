import type { ClientChannel, PseudoTtyInfo, ServerChannel, Session as SshSession, X11Options } from "ssh2";
import type { ClassifiedCommand } from "../../domain/policy/command.ts";
import { classifyExec } from "../../gate/classify/ssh.ts";
import type { ContentRule } from "../../gate/masking/index.ts";
import { x11Options } from "./agent-x11.ts";
import type { ConnectionScope } from "./connection.ts";
import { DENIED_EXIT_STATUS, denialLine, type Outcome, requestCommand } from "./decision.ts";
import { contentRules } from "./masking.ts";
import { ExecCapture, type OutputSink, ShellRecorder } from "./recorder.ts";
import { relay, type UpstreamEnd, watchEnd } from "./relay.ts";
import { rearmAgentForwarding } from "./ssh2-extras.ts";

type SshCommand = Extract<ClassifiedCommand, { protocol: "ssh" }>;

/** Agent and X11 forwarding to ask of the upstream with the command, once policy has allowed them. */
interface Extras {
  agentForward?: true;
  x11?: X11Options;
}

/** sftp's bytes are file transfers, not terminal output: decided and completed, not kept. */
const UNRECORDED: OutputSink = { write() {}, finish: async () => ({ truncatedBytes: 0 }) };

/**
 * One SSH session channel from the agent: pty, env and window size are kept for the upstream;
 * the one "real" request (exec, shell, or subsystem sftp) is decided through the gate, then
 * run upstream and relayed (masked, recorded) or refused with a stderr line and status 126.
 * Agent and X11 forwarding requests are decided as they come; the command waits for those
 * decisions and carries the allowed ones upstream.
 */
export function handleSession(
  channel: SshSession,
  pending: Promise<ConnectionScope>,
  connection: {
    track<T>(work: Promise<T>): Promise<T>;
    envAllowed(name: string): boolean;
    /** The agent-side channel of the exec, shell or sftp, from its accept to its close. */
    running(agent: ServerChannel): void;
  },
): void {
  let pty: PseudoTtyInfo | undefined;
  const env: Record<string, string> = {};
  let running: ClientChannel | undefined;
  let agentForward: Promise<boolean> | undefined;
  let x11: Promise<X11Options | undefined> | undefined;
  // Hold notices of these requests come before the command's channel is accepted: kept until it is.
  const early: string[] = [];
  let tellAgent: ((line: string) => void) | undefined;
  const tellEarly = (line: string) => (tellAgent ? tellAgent(line) : early.push(line));
  const decideExtra = (request: "agent_forward" | "x11", text: string, facts: Record<string, unknown> = {}) =>
    connection
      .track(pending.then((scope) => scope.decide(requestCommand(request, text, facts), tellEarly)))
      .then(
        (outcome) => outcome.kind === "allow",
        () => false,
      );

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
  channel.on("auth-agent", (accept, reject) => {
    agentForward = decideExtra("agent_forward", "auth-agent-req@openssh.com");
    void agentForward.then((allowed) => (allowed ? accept?.() : reject?.()));
  });
  channel.on("x11", (accept, reject, info) => {
    const facts = { screen: info.screen, single: info.single };
    x11 = decideExtra("x11", "x11-req", facts).then((allowed) => (allowed ? x11Options(info) : undefined));
    void x11.then((options) => (options ? accept?.() : reject?.()));
  });

  channel.on("exec", (accept, _reject, info) => {
    const agent = accept();
    connection.running(agent);
    const command: SshCommand = {
      protocol: "ssh",
      text: info.command,
      ssh: classifyExec(info.command),
    };
    void connection.track(
      run(agent, command, (upstream, extras) =>
        open((cb) =>
          upstream.exec(info.command, { env, ...extras, ...(pty ? { pty: ptyOptions(pty) } : {}) }, cb),
        ),
      ),
    );
  });
  channel.on("shell", (accept) => {
    const agent = accept();
    connection.running(agent);
    const command = requestCommand(
      "shell",
      "shell",
      pty ? { pty: { term: pty.term, cols: pty.cols, rows: pty.rows } } : {},
    );
    void connection.track(
      run(agent, command, (upstream, extras) =>
        open((cb) => upstream.shell(pty ? ptyOptions(pty) : false, { env, ...extras }, cb)),
      ),
    );
  });
  channel.on("subsystem", (accept, reject, info) => {
    if (info.name !== "sftp") return reject?.();
    const agent = accept();
    connection.running(agent);
    void connection.track(
      run(agent, requestCommand("sftp", "subsystem sftp"), (upstream) =>
        open((cb) => upstream.subsys("sftp", cb)),
      ),
    );
  });

  async function run(
    agent: ServerChannel,
    command: SshCommand,
    start: (upstream: import("ssh2").Client, extras: Extras) => ReturnType<typeof open>,
  ): Promise<void> {
    const tell = (line: string) => agent.stderr.write(`${line}\r\n`);
    tellAgent = tell;
    for (const line of early.splice(0)) tell(line);
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
    // Forwarding asked for on this channel goes upstream with the command once its decision is in.
    const extras: Extras = {};
    if (await agentForward) extras.agentForward = true;
    const x11Allowed = await x11;
    if (x11Allowed) extras.x11 = x11Allowed;
    const startedAt = performance.now();
    // sftp is a binary protocol: masking would corrupt it, and its bytes are not terminal output.
    const sftp = command.ssh.request === "sftp";
    let rules: ContentRule[];
    let remote: ClientChannel;
    let end: UpstreamEnd;
    try {
      rules = sftp ? [] : contentRules(scope.policy(), outcome.masking, scope.config.maskSecretsByDefault);
      ({ channel: remote, end } = await startWith(upstream, extras, start, tell));
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

/**
 * Starts the command with the forwarding asked for; a target that refuses one runs the command
 * without it, as OpenSSH does ("X11 forwarding request failed"), telling the agent.
 */
async function startWith(
  upstream: import("ssh2").Client,
  extras: Extras,
  start: (upstream: import("ssh2").Client, extras: Extras) => ReturnType<typeof open>,
  tell: (line: string) => void,
): ReturnType<typeof open> {
  for (;;) {
    if (extras.agentForward) rearmAgentForwarding(upstream);
    try {
      return await start(upstream, extras);
    } catch (error) {
      const message = (error as Error).message;
      if (extras.agentForward && /agent forwarding/i.test(message)) {
        tell("sluice: the target refused agent forwarding; running without it");
        delete extras.agentForward;
      } else if (extras.x11 && /X11/.test(message)) {
        tell("sluice: the target refused X11 forwarding; running without it");
        delete extras.x11;
      } else throw error;
    }
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
