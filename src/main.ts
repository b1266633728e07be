import { Command } from "commander";
import { apikeyGenerateCommand } from "./cli/apikey.ts";
import { approvalsListCommand, approvalsVoteCommand } from "./cli/approvals.ts";
import { credentialIssueCommand, credentialRevokeCommand } from "./cli/credential.ts";
import { demoCommand } from "./cli/demo.ts";
import { exportCommand } from "./cli/export.ts";
import { policyApplyCommand, policyShowCommand } from "./cli/policy.ts";
import { projectionsRebuildCommand, projectionsStatusCommand } from "./cli/projections.ts";
import { replayCommand } from "./cli/replay.ts";
import { retentionRunCommand } from "./cli/retention.ts";
import { startCommand } from "./cli/start.ts";
import { verifyCommand } from "./cli/verify.ts";
import { isSluiceError } from "./errors.ts";

const program = new Command()
  .name("sluice")
  .description("Sluice: the access gateway between AI agents and infrastructure")
  .showHelpAfterError();

program
  .command("start")
  .description("run the gateway (store, ledger sealer, HTTP API) until SIGINT/SIGTERM")
  .option(
    "-c, --config <file>",
    "config file (default: $SLUICE_CONFIG, else ./sluice.yaml, else built-in defaults)",
  )
  .action(startCommand);

program
  .command("demo")
  .description(
    "run the gateway on embedded parts with a sample PostgreSQL target, a demo policy and a demo agent credential, and print what to try",
  )
  .option("--data-dir <dir>", "where the demo keeps its log and keys (default: a new temporary directory)")
  .option("--port <port>", "the PostgreSQL proxy port", "15432")
  .action(demoCommand);

program
  .command("verify")
  .description("check every event's hash chain and every ledger seal; exit 1 naming the first broken place")
  .option(
    "-c, --config <file>",
    "config file (default: $SLUICE_CONFIG, else ./sluice.yaml, else built-in defaults)",
  )
  .option("--public-key <file>", "Ed25519 public JWK that signed the seals (default: the gateway's key)")
  .option("--export <dir>", "check an export instead: its files, signed manifest and seal coverage")
  .action(async (options) => {
    process.exitCode = await verifyCommand(options);
  });

const configOption = "config file (default: $SLUICE_CONFIG, else ./sluice.yaml, else built-in defaults)";
const policy = program.command("policy").description("policy as code: apply and show versions");
policy
  .command("apply")
  .description(
    "validate policy files (YAML) and publish them as the next version; identical documents are a no-op",
  )
  .argument("<files...>", "policy files, merged in order")
  .option("-c, --config <file>", configOption)
  .option("--author <name>", "who publishes it (default: the local user)")
  .action(async (files: string[], options) => {
    process.exitCode = await policyApplyCommand(files, options);
  });
policy
  .command("show")
  .description("print the current policy version, or an earlier one")
  .option("-c, --config <file>", configOption)
  .option("--version <n>", "the version to show")
  .option("--json", "print JSON instead of YAML")
  .action(async (options) => {
    process.exitCode = await policyShowCommand(options);
  });

const credential = program.command("credential").description("short-lived, sub-task scoped credentials");
credential
  .command("issue")
  .description(
    "issue a credential for one task, target and access level; prints it once with a ready connection string",
  )
  .requiredOption("--target <name>", "target from the policy")
  .requiredOption("--access <level>", "read-only, read-write or admin (within your grant)")
  .requiredOption("--task <id>", "the task it is for (declared now if new)")
  .option("--parent <id>", "parent task, when declaring a sub-task")
  .option("--intent <text>", "what the task is for, when declaring it")
  .option("--ttl <duration>", "lifetime, e.g. 90s, 15m, 1h (at most the grant's maxTtl)", "15m")
  .option("--reason <text>", "why, for the record")
  .requiredOption("--token <oidc-token>", "your OIDC token")
  .option("-c, --config <file>", configOption)
  .action(async (options) => {
    process.exitCode = await credentialIssueCommand(options);
  });
credential
  .command("revoke")
  .description("revoke a credential: refused at its next use, its ephemeral role dropped")
  .argument("<id>", "credential id")
  .option("--reason <text>", "why, for the record")
  .requiredOption("--token <oidc-token>", "your OIDC token")
  .option("-c, --config <file>", configOption)
  .action(async (id: string, options) => {
    process.exitCode = await credentialRevokeCommand({ ...options, id });
  });

const approvals = program.command("approvals").description("held commands waiting for approval");
approvals
  .command("list")
  .description("pending approvals you may vote on (--all: every pending one)")
  .option("--all", "include approvals for other approver groups")
  .requiredOption("--token <oidc-token>", "your OIDC token")
  .option("-c, --config <file>", configOption)
  .action(async (options) => {
    process.exitCode = await approvalsListCommand(options);
  });
approvals
  .command("approve")
  .description("approve a held command")
  .argument("<id>", "approval id")
  .option("--comment <text>", "for the record")
  .requiredOption("--token <oidc-token>", "your OIDC token")
  .option("-c, --config <file>", configOption)
  .action(async (id: string, options) => {
    process.exitCode = await approvalsVoteCommand("approve", { ...options, id });
  });
approvals
  .command("deny")
  .description("deny a held command")
  .argument("<id>", "approval id")
  .requiredOption("--reason <text>", "why (the agent is told)")
  .requiredOption("--token <oidc-token>", "your OIDC token")
  .option("-c, --config <file>", configOption)
  .action(async (id: string, options) => {
    process.exitCode = await approvalsVoteCommand("deny", { ...options, id });
  });

program
  .command("replay")
  .description(
    "play a recorded session (masked) in the terminal with its timing, or write it as asciicast v2",
  )
  .argument("<session-id>", "session id (from SessionStarted, or the session-<id> stream)")
  .option("--speed <n>", "playback speed factor", "1")
  .option("--no-wait", "print everything at once, without the recorded pauses")
  .option("--format <format>", "terminal or asciicast", "terminal")
  .option("-o, --output <file>", "write to a file instead of stdout")
  .option("-c, --config <file>", configOption)
  .action(async (id: string, options) => {
    process.exitCode = await replayCommand(id, options);
  });

const projections = program.command("projections").description("read models folded from the log");
projections
  .command("rebuild")
  .description("drop a read model (default: all) and fold it again from the start of the log")
  .argument("[name]", "policy, approvals, sessions, tasks, credentials or audit")
  .option("-c, --config <file>", configOption)
  .action(async (name: string | undefined, options) => {
    process.exitCode = await projectionsRebuildCommand(name, options);
  });
projections
  .command("status")
  .description("each read model's version, checkpoint and lag behind the log")
  .option("--json", "print JSON")
  .option("-c, --config <file>", configOption)
  .action(async (options) => {
    process.exitCode = await projectionsStatusCommand(options);
  });

program
  .command("export")
  .description("export a time range of the log with a manifest signed by the gateway's key")
  .option("--from <time>", "first event at or after this ISO 8601 time (default: the oldest kept)")
  .option("--to <time>", "events before this ISO 8601 time (default: now)")
  .option("--format <format>", "jsonl (raw events with hashes), csv (one row per command) or ocsf", "jsonl")
  .option("--out <dir>", "directory to create (default: ./sluice-export-<format>-<time>)")
  .option("--seal", "seal what was appended so far first, so seals cover the whole range")
  .option("-c, --config <file>", configOption)
  .action(async (options) => {
    process.exitCode = await exportCommand(options);
  });

const retention = program.command("retention").description("how long events stay in the store");
retention
  .command("run")
  .description("archive (JSONL export) and remove sealed ranges older than the hot period, oldest first")
  .option("--hot-days <n>", "days to keep (default: retention.hotDays from the config)")
  .option("--dry-run", "only say what would be archived and removed")
  .option("-c, --config <file>", configOption)
  .action(async (options) => {
    process.exitCode = await retentionRunCommand(options);
  });

const apikey = program.command("apikey").description("static API keys for agents (the alternative to OIDC)");
apikey
  .command("generate")
  .description("print a new key once, and the hashed entry to add under identity.apiKeys.keys")
  .requiredOption("--id <id>", "a name for the key")
  .requiredOption("--subject <subject>", "the agent identity the key signs in as")
  .option("--groups <groups>", "comma-separated groups")
  .option("--scope <targets>", "comma-separated targets (globs) the key may be used on")
  .option("-c, --config <file>", configOption)
  .action(async (options) => {
    process.exitCode = await apikeyGenerateCommand(options);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Known errors get one clear line; anything else is a bug and keeps its stack.
  if (isSluiceError(error)) {
    process.stderr.write(`sluice: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
