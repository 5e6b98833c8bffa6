import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import {
  closeRun,
  type EnqueueReport,
  EnqueueStoppedError,
  type IndexedJob,
  sendDeletionJobs,
} from "../functions/core/producers/enqueue.ts";
import {
  checkJobFile,
  type JobFileFormat,
  validJobsFrom,
} from "../functions/core/producers/job-file.ts";
import { Watermark } from "../functions/core/producers/watermark.ts";
import { newRunId } from "../functions/core/runs/run-id.ts";
import { RunTable } from "../functions/core/runs/run-table.ts";
import {
  AWS_FLAG_HELP,
  checkQueue,
  describeAwsError,
  explainAwsError,
  required,
  resolveQueueFlags,
  sqsClientFor,
} from "./aws-clients.ts";
import { InterruptedError, OperationalError, UsageError } from "./errors.ts";
import { wholeNumber } from "./flags.ts";
import { interruptOnSigint } from "./interrupt.ts";
import { emit, progressView } from "./output.ts";
import { dynamoDbClient } from "./run-stores.ts";
import { checkedRunId } from "./runs-command.ts";

interface EnqueueFlags {
  queueUrl?: string;
  stack?: string;
  endpointUrl?: string;
  region?: string;
  profile?: string;
  format?: string;
  delimiter?: string;
  fromLine?: string;
  dryRun?: boolean;
  skipInvalid?: boolean;
  concurrency: string;
  json?: boolean;
  quiet?: boolean;
  runName?: string;
  runId?: string;
  table?: string;
  coordinationTable?: string;
}

/** Skipped lines named in the text summary; `--json` lists them all. */
const SKIPPED_IN_TEXT = 20;

export function registerEnqueueCommand(program: Command): void {
  program
    .command("enqueue")
    .argument("[file]", "CSV with a locationId,csvId header, or JSONL; '-' or nothing reads stdin")
    .description(
      "Validate deletion jobs from a file or stdin, then send them to the jobs queue, 10 per request",
    )
    .option("--queue-url <url>", "the jobs queue (default: $QUEUE_URL)")
    .option("--stack <name>", "read the queue URL from a deployed stack's outputs")
    .option(
      "--endpoint-url <url>",
      "SQS endpoint, e.g. a local fauxqs (default: $AWS_ENDPOINT_URL_SQS)",
    )
    .option("--region <region>", AWS_FLAG_HELP.region)
    .option("--profile <name>", AWS_FLAG_HELP.profile)
    .option(
      "--format <csv|jsonl>",
      "input format (default: from the file name, else from the content)",
    )
    .option("--delimiter <char>", 'CSV field separator, e.g. ";" (default ",")')
    .option("--from-line <n>", "send only the jobs from this line of the file on (to resume)")
    .option("--dry-run", "validate and count; send nothing")
    .option("--skip-invalid", "send the valid jobs even when some lines are invalid")
    .option("--concurrency <n>", "SendMessageBatch requests in flight", "8")
    .option("--run-name <label>", "a label for the run (shown by `runs`)")
    .option(
      "--run-id <id>",
      "add the jobs to this run instead of a new one (resuming an interrupted enqueue)",
    )
    .option(
      "--table <name>",
      "the coordination table that records runs (default: the stack's, else $COORDINATION_TABLE)",
    )
    .option("--json", "print the summary as JSON on stdout")
    .option("--quiet", "no progress on stderr")
    .addHelpText(
      "after",
      `
Examples:
  $ ghl-csv-purge enqueue uploads.csv --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/GhlCsvPurge-Queue
  $ ghl-csv-purge enqueue uploads.csv --stack GhlCsvPurge --profile prod
  $ QUEUE_URL=… ghl-csv-purge enqueue uploads.jsonl --dry-run
  $ cat jobs.jsonl | ghl-csv-purge enqueue - --json
  $ ghl-csv-purge enqueue uploads.csv --stack GhlCsvPurge --run-name "Acme cleanup"
  $ ghl-csv-purge enqueue uploads.csv --stack GhlCsvPurge --from-line 48211 --run-id enqueue-…   # after Ctrl-C

Every job carries the run's id (printed first): \`runs show <id>\` follows it, \`report <id>\`
lists each job's outcome. With --stack (or --table, $COORDINATION_TABLE) the run is recorded
with its total once everything is sent.
Every line is checked before anything is sent: one invalid line stops the run (exit 1) and
names the line, unless --skip-invalid. Files are streamed: memory stays flat for any size.
Ctrl-C stops sending, prints what was sent and the --from-line that resumes (exit 130).
Exit codes: 0 all sent, 1 a failure (nothing lost: the summary says what was not sent), 2 usage.`,
    )
    .action(async (file: string | undefined, given: EnqueueFlags) => {
      const flags = { ...given, ...(await resolveQueueFlags(given)) };
      const json = Boolean(flags.json);
      const format = parseFormat(flags.format);
      const concurrency = Number(flags.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
        throw new UsageError(
          `--concurrency must be a whole number from 1 to 64, got "${flags.concurrency}"`,
        );
      }
      const fromLine =
        flags.fromLine === undefined ? 1 : wholeNumber(flags.fromLine, "--from-line");
      if (flags.runId) checkedRunId(flags.runId);
      if (flags.runName !== undefined && !/^[^\p{Cc}]{1,128}$/u.test(flags.runName)) {
        throw new UsageError("--run-name must be 1–128 printable characters");
      }
      const runId = flags.runId ?? newRunId("enqueue");
      const delimiter = parseDelimiter(flags.delimiter);
      const queueUrl = flags.dryRun
        ? (flags.queueUrl ?? process.env.QUEUE_URL)
        : required(flags.queueUrl, "QUEUE_URL", "--queue-url");
      const source = await spoolIfStdin(file);
      const name = file && file !== "-" ? file : "stdin";
      try {
        const started = Date.now();
        const check = await checkJobFile(source.path, format, { delimiter });
        const skipped = check.invalid.filter((problem) => problem.line >= fromLine);
        const skippedCount = fromLine === 1 ? check.invalidCount : skipped.length;
        const named = skipped.slice(0, SKIPPED_IN_TEXT).map((p) => `line ${p.line}: ${p.error}`);
        if (skippedCount > 0 && !flags.skipInvalid) {
          throw new OperationalError(
            `${skippedCount} invalid line(s), nothing was sent (${named.slice(0, 5).join("; ")}); fix them or pass --skip-invalid`,
          );
        }
        if (check.valid === 0) {
          throw new OperationalError(
            `no jobs in ${name}${skippedCount ? ` (${skippedCount} invalid line(s))` : ""}`,
          );
        }
        const skippedText = skippedCount
          ? `\nskipped ${skippedCount} invalid line(s):\n  ${named.join("\n  ")}${skippedCount > named.length ? `\n  … and ${skippedCount - named.length} more (--json lists them all)` : ""}`
          : "";
        if (flags.dryRun || !queueUrl) {
          emit(
            json,
            {
              dryRun: true,
              valid: check.valid,
              invalid: skippedCount,
              locations: check.locations,
              skippedLines: skipped,
            },
            `dry run: ${check.valid} valid job(s) for ${check.locations} location(s), ${skippedCount} invalid; nothing sent${skippedText}`,
          );
          return;
        }
        const client = sqsClientFor(flags, queueUrl);
        await checkQueue(client, queueUrl, flags, "the jobs queue");
        const runTable = await openRunTable(flags);
        if (runTable) {
          try {
            await runTable.table.openRun(runId, {
              source: "enqueue",
              ...(flags.runName && { label: flags.runName }),
            });
          } catch (error) {
            throw new OperationalError(
              `could not record run ${runId} in table ${runTable.name} (nothing was sent): ${describeAwsError(error)}`,
            );
          }
        }
        if (!json && !flags.quiet) {
          process.stderr.write(
            `run ${runId}${runTable ? "" : " (not recorded: no coordination table; give --stack or --table to follow it with `runs show`)"}\n`,
          );
        }
        const view = progressView("enqueueing", { json, quiet: Boolean(flags.quiet) });
        const interrupt = interruptOnSigint("finishing the batches in flight");
        // Every job below the watermark's index was sent: the resume point after a stop. Lines
        // are remembered only for jobs at or above it, so memory stays flat.
        let watermark: Watermark | undefined;
        const lineOf = new Map<number, number>();
        const lastLineRead = { value: 0 };
        let report: EnqueueReport;
        let stopped: string | undefined;
        try {
          report = await sendDeletionJobs(
            trackLines(
              validJobsFrom(source.path, 0, {
                signal: interrupt.signal,
                format,
                fromLine,
                delimiter,
              }),
              lineOf,
              (job) => {
                watermark ??= new Watermark(job.index);
                lastLineRead.value = job.line ?? lastLineRead.value;
              },
            ),
            {
              queueUrl,
              client,
              concurrency,
              runId,
              keepResults: "failures",
              total: check.valid,
              onResult: (result) => {
                if (result.status !== "sent" || !watermark) return;
                const before = watermark.value;
                watermark.mark(result.index);
                for (let index = before; index < watermark.value; index++) lineOf.delete(index);
              },
              onProgress: ({ sent, failed, total }) =>
                view.update(sent + failed, total, { sent, failed }),
            },
          );
        } catch (error) {
          if (!(error instanceof EnqueueStoppedError)) throw error;
          report = error.report;
          stopped = explainAwsError(error.cause, queueUrl, flags, "the jobs queue");
        } finally {
          view.stop();
          interrupt.dispose();
        }
        // What was sent is the run's, even when stopped: a resume with --run-id adds the rest.
        if (runTable) await closeRun(runTable.table, runId, report);
        const seconds = (Date.now() - started) / 1000;
        // The first job not sent; if every job read was sent, the line after the last one read.
        const resumeLine =
          watermark &&
          (lineOf.get(watermark.value) ??
            (lastLineRead.value ? lastLineRead.value + 1 : undefined));
        const unsent = check.valid - report.sent;
        const failures = report.results.filter((r) => r.status === "failed");
        const summary = {
          runId,
          ...(report.runRecordError && { runRecordError: report.runRecordError }),
          queueUrl,
          valid: check.valid,
          invalid: skippedCount,
          sent: report.sent,
          failed: report.failed,
          locations: check.locations,
          seconds: Number(seconds.toFixed(2)),
          jobsPerSecond: Math.round(report.sent / Math.max(seconds, 0.001)),
          peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
          failures: failures.map((f) => ({ line: f.line, error: "error" in f ? f.error : "" })),
          skippedLines: skipped,
          ...(interrupt.signal.aborted && { interrupted: true }),
          ...(stopped && { stoppedBecause: stopped }),
          ...(unsent > 0 && resumeLine !== undefined && { resumeFromLine: resumeLine }),
        };
        const resumeHint =
          resumeLine !== undefined
            ? ` Resume with: --from-line ${resumeLine} --run-id ${runId} (jobs after it that were sent go again; a second delete is harmless).`
            : "";
        const failureText = failures.length
          ? `, ${report.failed} NOT sent (line ${failures
              .slice(0, 5)
              .map((f) => `${f.line ?? "?"}: ${"error" in f ? f.error : ""}`)
              .join("; line ")})`
          : "";
        emit(
          json,
          summary,
          `sent ${report.sent} of ${check.valid} job(s) in ${seconds.toFixed(1)} s (${summary.jobsPerSecond}/s)${failureText}${skippedText}\nrun ${runId}: follow it with \`ghl-csv-purge runs show ${runId}${flags.stack ? ` --stack ${flags.stack}` : ""} --watch\`, then \`ghl-csv-purge report ${runId}\`${report.runRecordError ? `\nwarning: ${report.runRecordError}` : ""}`,
        );
        if (interrupt.signal.aborted) {
          throw new InterruptedError(
            `interrupted: ${report.sent} job(s) sent${resumeLine !== undefined ? `, every line before ${resumeLine} is on the queue` : ""}.${resumeHint}`,
          );
        }
        if (stopped) throw new OperationalError(`stopped: ${stopped}.${resumeHint}`);
        if (report.failed > 0) {
          throw new OperationalError(
            `${report.failed} job(s) could not be sent (first at line ${failures[0]?.line ?? "?"}).${resumeHint}`,
          );
        }
      } finally {
        source.cleanup();
      }
    });
}

/** The run table named by --table, the stack, or $COORDINATION_TABLE; none → runs unrecorded. */
async function openRunTable(flags: EnqueueFlags) {
  const name = flags.table ?? flags.coordinationTable ?? process.env.COORDINATION_TABLE?.trim();
  if (!name) return undefined;
  const client = await dynamoDbClient(flags);
  return { name, table: new RunTable(async () => client, name) };
}

/** Remembers the line of each job index in flight (forgetting them once passed), for resume hints. */
async function* trackLines(
  jobs: AsyncIterable<IndexedJob>,
  lineOf: Map<number, number>,
  onJob: (job: IndexedJob) => void,
): AsyncGenerator<IndexedJob> {
  for await (const job of jobs) {
    onJob(job);
    if (job.line !== undefined) lineOf.set(job.index, job.line);
    yield job;
  }
}

function parseDelimiter(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const value = raw === "\\t" || raw === "tab" ? "\t" : raw;
  if (value.length !== 1) {
    throw new UsageError(`--delimiter must be one character (or "\\t"), got "${raw}"`);
  }
  return value;
}

function parseFormat(format: string | undefined): JobFileFormat | undefined {
  if (format === undefined) return undefined;
  if (format === "csv" || format === "jsonl") return format;
  throw new UsageError(`--format must be csv or jsonl, got "${format}"`);
}

/** Stdin can be read once; the jobs are read twice (check, then send), so it goes to a temp file. */
async function spoolIfStdin(
  file: string | undefined,
): Promise<{ path: string; cleanup: () => void }> {
  if (file && file !== "-") return { path: file, cleanup: () => {} };
  if (process.stdin.isTTY) {
    throw new UsageError("give a file, or pipe jobs on stdin (CSV with a header, or JSONL)");
  }
  const dir = mkdtempSync(join(tmpdir(), "ghl-csv-purge-stdin-"));
  const path = join(dir, "jobs");
  await pipeline(process.stdin, createWriteStream(path));
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
