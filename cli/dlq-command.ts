import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { inspectDeadLetters } from "../functions/core/operations/dead-letter-inspection.ts";
import { redriveDeadLetters } from "../functions/core/operations/dead-letter-redrive.ts";
import { printable } from "../functions/core/text/printable.ts";
import { FAILURE_REASONS } from "../functions/core/worker/outcome.ts";
import {
  AWS_FLAG_HELP,
  checkQueue,
  explainAwsError,
  required,
  resolveQueueFlags,
  sqsClientFor,
} from "./aws-clients.ts";
import { OperationalError, UsageError } from "./errors.ts";
import { wholeNumber } from "./flags.ts";
import { emit, progressView, table } from "./output.ts";

interface DlqFlags {
  dlqUrl?: string;
  stack?: string;
  queueUrl?: string;
  endpointUrl?: string;
  region?: string;
  profile?: string;
  yes?: boolean;
  quiet?: boolean;
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
    .option("--region <region>", AWS_FLAG_HELP.region)
    .option("--profile <name>", AWS_FLAG_HELP.profile)
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
      const maxMessages = wholeNumber(flags.max ?? "10000", "--max");
      const samplesPerReason = wholeNumber(flags.samples, "--samples");
      const client = sqsClientFor(flags, dlqUrl);
      await checkQueue(client, dlqUrl, flags, "the dead-letter queue");
      const summary = await inspectDeadLetters(client, dlqUrl, {
        maxMessages,
        samplesPerReason,
      }).catch((error: unknown) => {
        throw new OperationalError(explainAwsError(error, dlqUrl, flags, "the dead-letter queue"));
      });
      const hidden =
        (summary.inFlight
          ? `; ${summary.inFlight} more in flight (held by another reader or a redrive; they show again when released)`
          : "") +
        (summary.unreceived
          ? `; SQS still counts ${summary.unreceived} more it did not hand out in 20 s of long polls (run again)`
          : "") +
        (summary.repeats
          ? `; ${summary.repeats} of them repeat another's source-message-id (one delivery parked twice)`
          : "");
      const text = [
        `${summary.total} dead letter(s)${summary.truncated ? " (stopped reading at --max)" : ""}${hidden}; oldest ${summary.oldest ?? "-"}, newest ${summary.newest ?? "-"}`,
        "",
        table([["failure-reason", "count"], ...Object.entries(summary.byReason)]),
        "",
        table([["failure-status", "count"], ...Object.entries(summary.byStatus)]),
        "",
        ...summary.samples.map(
          (s) =>
            `${printable(s.reason)}${s.status ? ` ${s.status}` : ""} at ${printable(s.failedAt ?? "?")}: ${printable(s.detail ?? "(no detail)")}\n  ${printable(s.body.slice(0, 200))}`,
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
    .option("--stack <name>", "read the queue URLs from a deployed stack's outputs")
    .option("--endpoint-url <url>", "SQS endpoint (default: $AWS_ENDPOINT_URL_SQS)")
    .option("--region <region>", AWS_FLAG_HELP.region)
    .option("--profile <name>", AWS_FLAG_HELP.profile)
    .option("-y, --yes", "do not ask before moving every dead letter")
    .option("--quiet", "no progress on stderr")
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
      const client = sqsClientFor(flags, dlqUrl);
      await checkQueue(client, dlqUrl, flags, "the dead-letter queue");
      await checkQueue(client, queueUrl, flags, "the jobs queue");
      if (!flags.reason && !flags.max && !flags.dryRun && !flags.yes) {
        await confirmRedriveAll(dlqUrl, queueUrl);
      }
      const view = progressView("redriving", { json, quiet: Boolean(flags.quiet) });
      const report = await redriveDeadLetters({
        client,
        deadLetterQueueUrl: dlqUrl,
        queueUrl,
        ...(flags.reason && { reason: flags.reason }),
        ...(flags.max && { max: wholeNumber(flags.max, "--max") }),
        dryRun: Boolean(flags.dryRun),
        onProgress: ({ moved, scanned, toMove }) =>
          view.update(moved, toMove ?? scanned, { moved }),
      })
        .catch((error: unknown) => {
          throw new OperationalError(
            `redrive failed, the dead letters it held are visible again: ${explainAwsError(error, queueUrl, flags, "the jobs queue")}`,
          );
        })
        .finally(() => view.stop());
      const what = flags.reason ? `"${flags.reason}" dead letters` : "dead letters";
      const left =
        (report.inFlight
          ? `; ${report.inFlight} left on the dead-letter queue because another reader held them (run again once they are released)`
          : "") +
        (report.unreceived
          ? `; SQS still counts ${report.unreceived} it did not hand out in 20 s of long polls (run again)`
          : "");
      emit(
        json,
        report,
        report.dryRun
          ? `dry run: ${report.matched} ${what} would move (of ${report.scanned} read); nothing moved${left}`
          : `moved ${report.moved} ${what} back to the jobs queue (${report.method}; ${report.scanned} read)${left}`,
      );
    });
}

/** An unfiltered redrive moves everything: on a terminal, ask first (scripts are not asked). */
async function confirmRedriveAll(dlqUrl: string, queueUrl: string): Promise<void> {
  if (!process.stdin.isTTY) return;
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await prompt.question(
    `Move every dead letter from ${dlqUrl} back to ${queueUrl}? [y/N] `,
  );
  prompt.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new UsageError("not confirmed; nothing was moved");
}
