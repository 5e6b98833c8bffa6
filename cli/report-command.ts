import { once } from "node:events";
import type { Command } from "commander";
import { createOutputFile, type OutputFile } from "../functions/core/files/output-file.ts";
import {
  REPORT_COLUMNS,
  resultsPrefix,
  toCsvRow,
  toReportJson,
} from "../functions/core/runs/result-line.ts";
import { type ReportSummary, readRunReport } from "../functions/core/runs/run-report.ts";
import { csvRow } from "../functions/core/text/csv-writer.ts";
import { describeAwsError } from "./aws-clients.ts";
import { InterruptedError, OperationalError, UsageError } from "./errors.ts";
import { interruptOnSigint } from "./interrupt.ts";
import { RUN_STORE_OPTIONS, type RunStoreFlags } from "./run-stores.ts";
import { checkedRunId, withStores } from "./runs-command.ts";

interface ReportFlags extends RunStoreFlags {
  out?: string;
  format?: string;
  failedOnly?: boolean;
  quiet?: boolean;
}

export function registerReportCommand(program: Command): void {
  const command = program
    .command("report")
    .argument("<runId>", "the run (printed by enqueue, purge and npm start; `runs` lists them)")
    .description(
      "One row per job of a run with its latest outcome: runId,locationId,csvId,outcome,reason,status,detail,attempts,finishedAt",
    )
    .option("--out <file>", "write to this file (.csv or .jsonl) instead of stdout")
    .option("--format <csv|jsonl>", "the format (default: from --out's extension, else csv)")
    .option("--failed-only", "only the jobs whose latest outcome is a dead letter")
    .option("--quiet", "no summary on stderr");
  for (const [flag, help] of RUN_STORE_OPTIONS) command.option(flag, help);
  command
    .addHelpText(
      "after",
      `
Examples:
  $ ghl-csv-purge report enqueue-20261202T004512Z-3f9a --stack GhlCsvPurge --out run.csv
  $ ghl-csv-purge report purge-nightly-20261202T030000Z --stack GhlCsvPurge --failed-only
  $ ghl-csv-purge report demo-20261202T010203Z-1a2b --data-dir .ghl-csv-purge/demo --format jsonl

Rows stream from the run's result objects: a million rows in bounded memory. A job that
settled more than once (redriven, a duplicate copy) has one row: its latest outcome.
--out writes a temporary file beside it (created exclusively, never through a link), and
renames it over the file when complete: never a partial report. An --out that is a directory,
FIFO, device or symlink is refused; write to stdout (the default) to stream into a pipe.
Exit codes: 0 (also when the reader of stdout stops early, as \`| head\` does), 1 the results
cannot be read or the file could not be written (a full disk), 2 usage (also an --out that
cannot be created there), 130 interrupted.`,
    )
    .action(async (runId: string, flags: ReportFlags) => {
      checkedRunId(runId);
      const format = reportFormat(flags);
      await withStores(flags, async (stores) => {
        // Nothing is written for a run that is not there (a mistyped id).
        let known: boolean;
        try {
          known =
            (await stores.table.getRun(runId)) !== undefined ||
            !(await stores.bucket.keys(resultsPrefix(runId)).next()).done;
        } catch (error) {
          throw new OperationalError(
            `could not read run ${runId} in ${stores.where}: ${describeAwsError(error)}`,
          );
        }
        if (!known) {
          throw new OperationalError(
            `no results and no record for run ${runId} in ${stores.where} (\`ghl-csv-purge runs\` lists the recent ones)`,
          );
        }
        // The file is created (or refused) before the first result is read.
        const file = flags.out ? await createOutputFile(flags.out) : undefined;
        const out: Pick<OutputFile, "write"> = file ?? { write: writeStdout };
        const interrupt = interruptOnSigint("stopping the report");
        const started = Date.now();
        let summary: ReportSummary | undefined;
        let rows = 0;
        let skipped = 0;
        try {
          await out.write(format === "csv" ? csvRow(REPORT_COLUMNS) : "");
          const results = readRunReport(runId, {
            bucket: stores.bucket,
            ...(flags.failedOnly && { failedOnly: true }),
            onSummary: (s) => {
              summary = s;
            },
            onSkippedLine: () => {
              skipped += 1;
            },
          });
          for (;;) {
            const next = await results.next().catch((error: unknown) => {
              throw new OperationalError(
                `could not read the results of run ${runId} in ${stores.where}: ${describeAwsError(error)}`,
              );
            });
            if (next.done || interrupt.signal.aborted) break;
            const row = next.value;
            await out.write(`${format === "csv" ? toCsvRow(row) : toReportJson(row)}\n`);
            rows += 1;
          }
          if (interrupt.signal.aborted) {
            throw new InterruptedError(
              `interrupted after ${rows} row(s); ${file ? "no report file was written" : "the report on stdout is incomplete"}`,
            );
          }
          await file?.commit();
        } finally {
          interrupt.dispose();
          await file?.discard();
        }
        if (!flags.quiet) {
          const counts = summary?.counts;
          process.stderr.write(
            `report of ${runId}: ${rows} row(s)${flags.out ? ` in ${flags.out}` : ""}` +
              (counts
                ? ` (of ${summary?.jobs} job(s): deleted ${counts.deleted}, already absent ${counts.alreadyAbsent}, dead-lettered ${counts.deadLettered}; ${summary?.lines} result line(s) in ${summary?.objects} object(s))`
                : "") +
              `${skipped ? `; ${skipped} unreadable line(s) skipped` : ""} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
          );
        }
      });
    });
}

function reportFormat(flags: ReportFlags): "csv" | "jsonl" {
  const fromName = flags.out?.match(/\.(csv|jsonl)$/i)?.[1]?.toLowerCase();
  const format = flags.format ?? fromName ?? "csv";
  if (format !== "csv" && format !== "jsonl") {
    throw new UsageError(`--format must be csv or jsonl, got "${format}"`);
  }
  if (flags.out && !fromName && !flags.format) {
    throw new UsageError(`--out ${flags.out}: name a .csv or .jsonl file, or give --format`);
  }
  return format;
}

/**
 * Writes to stdout with back-pressure, so a million rows never pile up in memory. A write error
 * (a closed pipe, a full disk) is `main`'s to report, in one line.
 */
async function writeStdout(text: string): Promise<void> {
  if (text && !process.stdout.write(text)) await once(process.stdout, "drain");
}
