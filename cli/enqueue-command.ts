import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { sendDeletionJobs } from "../functions/core/producers/enqueue.ts";
import {
  checkJobFile,
  type JobFileFormat,
  validJobsFrom,
} from "../functions/core/producers/job-file.ts";
import { describeAwsError, required, resolveQueueFlags, sqsClientFor } from "./aws-clients.ts";
import { OperationalError, UsageError } from "./errors.ts";
import { emit, progressView } from "./output.ts";

interface EnqueueFlags {
  queueUrl?: string;
  stack?: string;
  endpointUrl?: string;
  format?: string;
  dryRun?: boolean;
  skipInvalid?: boolean;
  concurrency: string;
  json?: boolean;
}

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
    .option(
      "--format <csv|jsonl>",
      "input format (default: from the file name, else from the content)",
    )
    .option("--dry-run", "validate and count; send nothing")
    .option("--skip-invalid", "send the valid jobs even when some lines are invalid")
    .option("--concurrency <n>", "SendMessageBatch requests in flight", "8")
    .option("--json", "print the summary as JSON on stdout")
    .addHelpText(
      "after",
      `
Examples:
  $ ghl-csv-purge enqueue uploads.csv --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/GhlCsvPurge-Queue
  $ ghl-csv-purge enqueue uploads.csv --stack GhlCsvPurge
  $ QUEUE_URL=… ghl-csv-purge enqueue uploads.jsonl --dry-run
  $ cat jobs.jsonl | ghl-csv-purge enqueue - --json

Every line is checked before anything is sent: one invalid line stops the run (exit 1) and
names the line, unless --skip-invalid. Files are streamed: memory stays flat for any size.`,
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
      const queueUrl = flags.dryRun
        ? (flags.queueUrl ?? process.env.QUEUE_URL)
        : required(flags.queueUrl, "QUEUE_URL", "--queue-url");
      const source = await spoolIfStdin(file);
      try {
        const started = Date.now();
        const check = await checkJobFile(source.path, format);
        const invalidSample = check.invalid.slice(0, 5).map((p) => `line ${p.line}: ${p.error}`);
        if (check.invalid.length > 0 && !flags.skipInvalid) {
          throw new OperationalError(
            `${check.invalid.length} invalid line(s), nothing was sent (${invalidSample.join("; ")}); fix them or pass --skip-invalid`,
          );
        }
        if (flags.dryRun || !queueUrl) {
          emit(
            json,
            {
              dryRun: true,
              valid: check.valid,
              invalid: check.invalid.length,
              locations: check.locations,
              invalidSample,
            },
            `dry run: ${check.valid} valid job(s) for ${check.locations} location(s), ${check.invalid.length} invalid; nothing sent`,
          );
          return;
        }
        const view = progressView("enqueueing", { json });
        let report: Awaited<ReturnType<typeof sendDeletionJobs>>;
        try {
          report = await sendDeletionJobs(validJobsFrom(source.path, 0, undefined, format), {
            queueUrl,
            client: sqsClientFor(flags),
            concurrency,
            keepResults: "failures",
            total: check.valid,
            onProgress: ({ sent, failed, total }) =>
              view.update(sent + failed, total, { sent, failed }),
          });
        } catch (error) {
          throw new OperationalError(`could not send to ${queueUrl}: ${describeAwsError(error)}`);
        } finally {
          view.stop();
        }
        const seconds = (Date.now() - started) / 1000;
        const summary = {
          queueUrl,
          valid: check.valid,
          invalid: check.invalid.length,
          sent: report.sent,
          failed: report.failed,
          locations: check.locations,
          seconds: Number(seconds.toFixed(2)),
          jobsPerSecond: Math.round(report.sent / Math.max(seconds, 0.001)),
          peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
          failures: report.results.slice(0, 20),
        };
        emit(
          json,
          summary,
          `sent ${report.sent} of ${check.valid} job(s) in ${seconds.toFixed(1)} s (${summary.jobsPerSecond}/s)` +
            `${check.invalid.length ? `, skipped ${check.invalid.length} invalid line(s)` : ""}` +
            `${report.failed ? `, ${report.failed} NOT sent (first: ${JSON.stringify(report.results[0])})` : ""}`,
        );
        if (report.failed > 0)
          throw new OperationalError(`${report.failed} job(s) could not be sent`);
      } finally {
        source.cleanup();
      }
    });
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
