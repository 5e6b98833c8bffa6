import "./quiet-worker.ts";
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { OutputFileError } from "../functions/core/files/output-file.ts";
import { InputFileError } from "../functions/core/text/csv-reader.ts";
import { printable } from "../functions/core/text/printable.ts";
import { registerAuthCommands } from "./auth-command.ts";
import { registerDlqCommands } from "./dlq-command.ts";
import { registerEnqueueCommand } from "./enqueue-command.ts";
import { EXIT, InterruptedError, OperationalError, UsageError } from "./errors.ts";
import { registerLocalCommand } from "./local-command.ts";
import { registerPurgeCommand } from "./purge-command.ts";
import { registerReportCommand } from "./report-command.ts";
import { registerRunsCommands } from "./runs-command.ts";
import { registerStatusCommand } from "./status-command.ts";

/** The `ghl-csv-purge` command. Expected failures print one line; exit codes 0, 1, 2. */
export function buildProgram(): Command {
  const program = new Command()
    .name("ghl-csv-purge")
    .description(
      "Delete HighLevel Social Planner CSV uploads reliably, within HighLevel's rate limits",
    )
    .version(packageVersion(), "--version", "print the version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerLocalCommand(program);
  registerEnqueueCommand(program);
  registerPurgeCommand(program);
  registerDlqCommands(program);
  registerAuthCommands(program);
  registerStatusCommand(program);
  registerRunsCommands(program);
  registerReportCommand(program);
  const exitOverride = (command: Command) => {
    command.exitOverride();
    command.commands.forEach(exitOverride);
  };
  exitOverride(program);
  return program;
}

/** The package's version, from its package.json (one level up in the source, two in dist/). */
function packageVersion(): string {
  for (const up of ["../package.json", "../../package.json"]) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(up, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === "ghl-csv-purge" && manifest.version) return manifest.version;
    } catch {
      // not there: look one level further up
    }
  }
  return "unknown";
}

export async function main(argv: string[]): Promise<number> {
  process.stdout.on("error", stdoutFailed);
  try {
    await buildProgram().parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed the message (or the help) already.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`ghl-csv-purge: ${printable(error.message)}\n`);
      return EXIT.usage;
    }
    if (error instanceof OperationalError) {
      process.stderr.write(`ghl-csv-purge: ${printable(error.message)}\n`);
      return EXIT.failure;
    }
    if (error instanceof InterruptedError) {
      process.stderr.write(`ghl-csv-purge: ${printable(error.message)}\n`);
      return EXIT.interrupted;
    }
    if (error instanceof OutputFileError) {
      // The target is untouched and no temporary file is left: say which path and why.
      process.stderr.write(`ghl-csv-purge: ${printable(error.message)}\n`);
      return error.problem === "path" ? EXIT.usage : EXIT.failure;
    }
    if (error instanceof InputFileError) {
      // The input cannot be what it should be (a jobs file, a locations file): the user gave
      // the wrong thing, nothing was sent.
      process.stderr.write(`ghl-csv-purge: ${printable(error.message)}\n`);
      return EXIT.usage;
    }
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    process.stderr.write(`ghl-csv-purge: unexpected failure: ${printable(message)}\n`);
    if (process.env.DEBUG) console.error(error);
    return EXIT.failure;
  }
}

/**
 * `ghl-csv-purge … | head` closes stdout early: that is not a failure (exit 0, nothing said).
 * Any other write error on stdout (`> /dev/full`, a broken terminal) ends the command at once
 * in one line, exit 1: what was left to print cannot be printed.
 */
function stdoutFailed(error: NodeJS.ErrnoException): never {
  if (error.code === "EPIPE") process.exit(EXIT.ok);
  const reason = error.message.replace(/, \w+$/, "");
  process.stderr.write(`ghl-csv-purge: could not write to stdout: ${printable(reason)}\n`);
  process.exit(EXIT.failure);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("cli/main.ts")) {
  process.exitCode = await main(process.argv);
}
