import type { Command } from "commander";
import { inspectDeadLetters } from "../functions/core/operations/dead-letter-inspection.ts";
import { redriveDeadLetters } from "../functions/core/operations/dead-letter-redrive.ts";
import { FAILURE_REASONS } from "../functions/core/worker/outcome.ts";
import { describeAwsError, required, resolveQueueFlags, sqsClientFor } from "./aws-clients.ts";
import { OperationalError, UsageError } from "./errors.ts";
import { emit, progressView, table } from "./output.ts";

interface DlqFlags {
  dlqUrl?: string;
  stack?: string;
  queueUrl?: string;
  endpointUrl?: string;
  reason?: string;
  max?: string;
  samples: string;
  dryRun?: boolean;
  json?: boolean;
}

export function registerDlqCommands(program: Command): void {
  const dlq = program.command("dlq").description("Inspect and redrive dead letters");

  dlq
    .command("inspect")
    .description(
      "Count dead letters by failure-reason and failure-status, with the oldest, newest and samples; consumes nothing",
    )
    .option("--dlq-url <url>", "the dead-letter queue (default: $DEAD_LETTER_QUEUE_URL)")
    .option("--stack <name>", "read the queue URLs from a deployed stack's outputs")
    .option("--endpoint-url <url>", "SQS endpoint (default: $AWS_ENDPOINT_URL_SQS)")
    .option("--max <n>", "read at most this many messages", "10000")
    .option("--samples <n>", "samples per reason", "2")
    .option("--json", "print the summary as JSON on stdout")
    .addHelpText(
      "after",
      "\nExample:\n  $ ghl-csv-purge dlq inspect --dlq-url https://sqs.eu-west-1.amazonaws.com/123456789012/GhlCsvPurge-DLQ\n",
    )
    .action(async (given: DlqFlags) => {
      const flags = { ...given, ...(await resolveQueueFlags(given)) };
      const dlqUrl = required(flags.dlqUrl, "DEAD_LETTER_QUEUE_URL", "--dlq-url");
      const summary = await inspectDeadLetters(sqsClientFor(flags), dlqUrl, {
        maxMessages: wholeNumber(flags.max ?? "10000", "--max"),
        samplesPerReason: wholeNumber(flags.samples, "--samples"),
      }).catch((error: unknown) => {
        throw new OperationalError(`could not read ${dlqUrl}: ${describeAwsError(error)}`);
      });
      const text = [
        `${summary.total} dead letter(s)${summary.truncated ? " (stopped reading at --max)" : ""}; oldest ${summary.oldest ?? "-"}, newest ${summary.newest ?? "-"}`,
        "",
        table([["failure-reason", "count"], ...Object.entries(summary.byReason)]),
        "",
        table([["failure-status", "count"], ...Object.entries(summary.byStatus)]),
        "",
        ...summary.samples.map(
          (s) =>
            `${s.reason}${s.status ? ` ${s.status}` : ""} at ${s.failedAt ?? "?"}: ${s.detail ?? "(no detail)"}\n  ${s.body.slice(0, 200)}`,
        ),
      ].join("\n");
      emit(Boolean(flags.json), summary, text);
    });

  dlq
    .command("redrive")
    .description(
      "Send dead letters back to the jobs queue (a move task on AWS; receive → send → delete when filtered or where move tasks do not exist)",
    )
    .option("--dlq-url <url>", "the dead-letter queue (default: $DEAD_LETTER_QUEUE_URL)")
    .option("--queue-url <url>", "the jobs queue (default: $QUEUE_URL)")
    .option("--endpoint-url <url>", "SQS endpoint (default: $AWS_ENDPOINT_URL_SQS)")
    .option(
      "--reason <reason>",
      `only dead letters with this failure-reason (${[...FAILURE_REASONS, "unknown"].join(", ")})`,
    )
    .option("--max <n>", "move at most this many")
    .option("--dry-run", "count what would move; move nothing")
    .option("--json", "print the result as JSON on stdout")
    .addHelpText(
      "after",
      `
Examples:
  $ ghl-csv-purge dlq redrive --stack GhlCsvPurge --reason exhausted   # after a HighLevel outage
  $ ghl-csv-purge dlq redrive --reason unauthorized --dry-run
  $ ghl-csv-purge dlq redrive --max 100

A crash halfway can leave a job on both queues (deleting it twice is harmless), never on neither.`,
    )
    .action(async (given: DlqFlags) => {
      const flags = { ...given, ...(await resolveQueueFlags(given)) };
      const json = Boolean(flags.json);
      const dlqUrl = required(flags.dlqUrl, "DEAD_LETTER_QUEUE_URL", "--dlq-url");
      const queueUrl = required(flags.queueUrl, "QUEUE_URL", "--queue-url");
      if (flags.reason && ![...FAILURE_REASONS, "unknown"].includes(flags.reason)) {
        throw new UsageError(
          `--reason must be one of ${[...FAILURE_REASONS, "unknown"].join(", ")}, got "${flags.reason}"`,
        );
      }
      const view = progressView("redriving", { json });
      const report = await redriveDeadLetters({
        client: sqsClientFor(flags),
        deadLetterQueueUrl: dlqUrl,
        queueUrl,
        ...(flags.reason && { reason: flags.reason }),
        ...(flags.max && { max: wholeNumber(flags.max, "--max") }),
        dryRun: Boolean(flags.dryRun),
        onProgress: ({ moved, scanned, toMove }) =>
          view.update(moved, toMove ?? scanned, { moved }),
      })
        .catch((error: unknown) => {
          throw new OperationalError(`redrive failed: ${describeAwsError(error)}`);
        })
        .finally(() => view.stop());
      const what = flags.reason ? `"${flags.reason}" dead letters` : "dead letters";
      emit(
        json,
        report,
        report.dryRun
          ? `dry run: ${report.matched} ${what} would move (of ${report.scanned} read); nothing moved`
          : `moved ${report.moved} ${what} back to the jobs queue (${report.method}; ${report.scanned} read)`,
      );
    });
}

function wholeNumber(raw: string, flag: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new UsageError(`${flag} must be a whole number ≥ 1, got "${raw}"`);
  return value;
}
