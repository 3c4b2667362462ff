import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { ConfigError, configPath } from "../config/load.js";
import { INVENTORY_KINDS } from "../report/inventory.js";
import { RunOrderError } from "../run-order.js";
import { StoreBusyError } from "../store/lock.js";
import { ackCommand } from "./ack.js";
import { UsageError } from "./context.js";
import { demoCommand } from "./demo.js";
import { NAMING_FORMS } from "./find.js";
import { historyCommand } from "./history.js";
import { type Output, processOutput } from "./output.js";
import { redeployCommand } from "./redeploy.js";
import { REPORT_FORMATS, reportCommand } from "./report.js";
import { rerouteCommand } from "./reroute.js";
import { sweepCommand } from "./sweep.js";
import { testNotifyCommand } from "./test-notify.js";
import { validateCommand } from "./validate.js";

/** Exit statuses of the public contract. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The version in the nearest package.json above this file: lib/cli/ in the checkout, dist/lib/cli/ once built. */
function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (existsSync(file)) return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
  }
  return "unknown";
}

/** Runs the `certwatch` command and resolves to its exit status; never calls process.exit itself. */
export async function main(argv: string[], output: Output = processOutput): Promise<number> {
  let status: number = EXIT.ok;
  const program = new Command()
    .name("certwatch")
    .description("Watches certificates in Huawei Cloud and Alibaba Cloud and alerts before they break.")
    .version(packageVersion(), "-V, --version", "print the version")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.out(text.trimEnd()),
      writeErr: (text) => output.err(text.trimEnd()),
    });
  const configOption = () =>
    new Option("-c, --config <file>", "config file (default: $CERTWATCH_CONFIG, then ./certwatch.yml)");

  program
    .command("sweep")
    .description("collect every source, store what changed, alert on what is new")
    .addOption(configOption())
    .option("--now <iso>", "evaluate as of this instant instead of the clock")
    .option("--source <name>", "sweep only this source (repeatable)", collect, [])
    .option("--dry-run", "collect and evaluate, print what would be sent; write and send nothing")
    .option("--verbose", "with --dry-run: also print the exact body of every message it would send")
    .option("--json", "print one JSON run summary on stdout")
    .action(async (options) => {
      status = await sweepCommand({ ...options, config: configPath(options.config) }, output);
    });

  program
    .command("report")
    .description("the inventory from the store, soonest expiry first; reads only")
    .addOption(configOption())
    .option("--now <iso>", "evaluate as of this instant instead of the clock")
    .option("--within <days>", "only objects expiring within DAYS (expired ones included)")
    .option("--source <name>", "only this source (repeatable)", collect, [])
    .addOption(new Option("--kind <kind>", "only this kind of object").choices(INVENTORY_KINDS))
    .addOption(new Option("--format <format>", "output format").choices(REPORT_FORMATS).default("table"))
    .option("--out <file>", "write the report to FILE instead of stdout")
    .action(async (options) => {
      status = await reportCommand({ ...options, config: configPath(options.config) }, output);
    });

  program
    .command("history")
    .description("the recorded changes of an object, from the stored snapshots")
    .argument("<object>", NAMING_FORMS)
    .addOption(configOption())
    .option("--source <name>", "only this source (repeatable)", collect, [])
    .action(async (object, options) => {
      status = await historyCommand({ ...options, object, config: configPath(options.config) }, output);
    });

  program
    .command("validate")
    .description("check the config and prove each source's credentials with one read-only call")
    .addOption(configOption())
    .option("--offline", "check the schema alone: references left unresolved, nothing contacted")
    .action(async (options) => {
      status = await validateCommand(
        { config: configPath(options.config), offline: options.offline },
        output,
      );
    });

  program
    .command("ack")
    .description("acknowledge an alert: no reminders for its current stage until --until")
    .argument("<alert>", NAMING_FORMS)
    .requiredOption("--until <time>", "an ISO time, or a span from now such as 3d or 12h")
    .requiredOption("--reason <text>", "why, for whoever reads the ack next")
    .addOption(configOption())
    .action(async (alert, options) => {
      status = await ackCommand({ ...options, alert, config: configPath(options.config) }, output);
    });

  program
    .command("redeploy")
    .description(
      "a new CAS deployment job for exactly the failed workers of one job (or every worker, with --all-workers), scheduled at once or --at",
    )
    .requiredOption("--source <name>", "the aliyun-deployment-jobs source")
    .requiredOption("--job <id>", "the deployment job whose failed workers to redeploy")
    .option(
      "--cert <id>",
      "deploy this certificate instead of the workers' own (required with --all-workers)",
    )
    .option(
      "--all-workers",
      "redeploy every worker of the job, whatever its status, with the renewed certificate --cert",
    )
    .option("--at <iso>", "start the new job at this time (ScheduleTime) instead of at once")
    .option("--dry-run", "print the plan; create nothing")
    .option("--force", "redeploy even if the same resources were redeployed within remediation.window")
    .addOption(configOption())
    .action(async (options) => {
      status = await redeployCommand({ ...options, config: configPath(options.config) }, output);
    });

  program
    .command("test-notify")
    .description("send a clearly labelled test message through one receiver")
    .requiredOption("--receiver <name>", "the receiver's name in the config")
    .addOption(configOption())
    .action(async (options) => {
      status = await testNotifyCommand(
        { receiver: options.receiver, config: configPath(options.config) },
        output,
      );
    });

  program
    .command("reroute")
    .description(
      "move the notifications waiting for a receiver (one renamed or removed from the config) to a configured one",
    )
    .requiredOption("--from <name>", "the receiver the notifications wait for, as the sweep summary names it")
    .requiredOption("--to <name>", "a receiver in the config; the next run delivers them there")
    .option("--dry-run", "say how many would move; change nothing")
    .addOption(configOption())
    .action(async (options) => {
      status = await rerouteCommand({ ...options, config: configPath(options.config) }, output);
    });

  program
    .command("demo")
    .description("run a sweep against built-in simulators and show what on-call engineers receive")
    .action(async () => {
      status = await demoCommand(output);
    });

  try {
    await program.parseAsync(argv);
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const refused = [ConfigError, UsageError, StoreBusyError, RunOrderError];
    if (refused.some((kind) => error instanceof kind)) {
      output.err((error as Error).message);
      return EXIT.usage;
    }
    output.err(`certwatch: ${(error as Error).message}`);
    return EXIT.failed;
  }
}
