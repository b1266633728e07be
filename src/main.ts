import { Command } from "commander";
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
  .command("verify")
  .description("check every event's hash chain and every ledger seal; exit 1 naming the first broken place")
  .option(
    "-c, --config <file>",
    "config file (default: $SLUICE_CONFIG, else ./sluice.yaml, else built-in defaults)",
  )
  .option("--public-key <file>", "Ed25519 public JWK that signed the seals (default: the gateway's key)")
  .action(async (options) => {
    process.exitCode = await verifyCommand(options);
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
