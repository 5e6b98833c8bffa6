import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { Command } from "commander";
import { METRIC, METRIC_NAMESPACE, METRIC_SERVICE } from "../functions/core/metric-names.ts";
import { inspectDeadLetters } from "../functions/core/operations/dead-letter-inspection.ts";
import {
  AWS_FLAG_HELP,
  checkQueue,
  explainAwsError,
  required,
  resolveQueueFlags,
  sqsClientFor,
} from "./aws-clients.ts";
import { OperationalError } from "./errors.ts";
import { wholeNumber } from "./flags.ts";
import { emit, table } from "./output.ts";

interface StatusFlags {
  queueUrl?: string;
  dlqUrl?: string;
  stack?: string;
  endpointUrl?: string;
  region?: string;
  profile?: string;
  json?: boolean;
  watch?: string | boolean;
}

export interface PipelineStatus {
  queue: { waiting: number; inFlight: number; delayed: number };
  deadLetters: { total: number; byReason: Record<string, number> };
  /** Jobs finished (deleted or already absent) per minute, from the stack's metrics on AWS. */
  throughput?: { last5Minutes: number; last60Minutes: number; etaMinutes: number | undefined };
  /** The stack's alarms in ALARM (with `--stack` on AWS). */
  alarmsFiring?: string[];
  /** Why a part is missing (a local endpoint has no CloudWatch). */
  notes: string[];
}

/** `ghl-csv-purge status`: the pipeline at a glance, from a terminal. */
export function registerStatusCommand(program: Command): void {
  program
    .command("status")
    .description(
      "Queue depth (waiting, in flight, delayed), dead letters by reason, recent deletions and an ETA, and firing alarms",
    )
    .option("--stack <name>", "read the queues from a deployed stack's outputs (and its alarms)")
    .option("--queue-url <url>", "the jobs queue (default: $QUEUE_URL)")
    .option("--dlq-url <url>", "the dead-letter queue (default: $DEAD_LETTER_QUEUE_URL)")
    .option(
      "--endpoint-url <url>",
      "SQS endpoint, e.g. a local fauxqs (default: $AWS_ENDPOINT_URL_SQS)",
    )
    .option("--region <region>", AWS_FLAG_HELP.region)
    .option("--profile <name>", AWS_FLAG_HELP.profile)
    .option("--json", "print the status as JSON on stdout")
    .option("--watch [seconds]", "refresh every few seconds (default 5) until Ctrl-C")
    .addHelpText(
      "after",
      `
On AWS (--stack) it also reads the stack's metrics (deletions in the last 5 and 60 minutes,
an ETA to drain) and alarms; against a local endpoint only the queues.
Exit codes: 0, or 1 when one of the stack's alarms is in ALARM.`,
    )
    .action(async (given: StatusFlags) => {
      const flags = { ...given, ...(await resolveQueueFlags(given)) };
      const queueUrl = required(flags.queueUrl, "QUEUE_URL", "--queue-url");
      const dlqUrl = required(flags.dlqUrl, "DEAD_LETTER_QUEUE_URL", "--dlq-url");
      const sqs = sqsClientFor(flags, queueUrl);
      await checkQueue(sqs, queueUrl, flags, "the jobs queue");
      const intervalSeconds =
        flags.watch === undefined || flags.watch === false
          ? undefined
          : flags.watch === true
            ? 5
            : wholeNumber(flags.watch, "--watch");
      for (;;) {
        const status = await readStatus(sqs, queueUrl, dlqUrl, flags).catch((error: unknown) => {
          throw new OperationalError(explainAwsError(error, queueUrl, flags));
        });
        if (intervalSeconds && process.stdout.isTTY && !flags.json)
          process.stdout.write("\x1b[2J\x1b[H");
        emit(Boolean(flags.json), status, describe(status));
        if (!intervalSeconds) {
          if (status.alarmsFiring?.length) {
            throw new OperationalError(
              `${status.alarmsFiring.length} alarm(s) in ALARM: ${status.alarmsFiring.join(", ")}`,
            );
          }
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, intervalSeconds * 1000));
      }
    });
}

async function readStatus(
  sqs: SQSClient,
  queueUrl: string,
  dlqUrl: string,
  flags: StatusFlags,
): Promise<PipelineStatus> {
  const attributes = async (url: string) =>
    (
      await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
          ],
        }),
      )
    ).Attributes ?? {};
  const [jobs, dead] = await Promise.all([attributes(queueUrl), attributes(dlqUrl)]);
  const count = (value: string | undefined) => Number(value ?? 0);
  const deadLetters = await inspectDeadLetters(sqs, dlqUrl, {
    maxMessages: 1_000,
    samplesPerReason: 0,
  });
  const status: PipelineStatus = {
    queue: {
      waiting: count(jobs.ApproximateNumberOfMessages),
      inFlight: count(jobs.ApproximateNumberOfMessagesNotVisible),
      delayed: count(jobs.ApproximateNumberOfMessagesDelayed),
    },
    deadLetters: {
      total:
        count(dead.ApproximateNumberOfMessages) + count(dead.ApproximateNumberOfMessagesNotVisible),
      byReason: deadLetters.byReason,
    },
    notes: [],
  };
  const local = flags.endpointUrl || process.env.AWS_ENDPOINT_URL_SQS;
  if (local) {
    status.notes.push("a local SQS endpoint: no CloudWatch metrics or alarms to read");
    return status;
  }
  const aws = {
    ...(flags.region && { region: flags.region }),
    ...(flags.profile && { profile: flags.profile }),
  };
  const { CloudWatchClient, GetMetricDataCommand, DescribeAlarmsCommand } = await import(
    "@aws-sdk/client-cloudwatch"
  );
  const cloudWatch = new CloudWatchClient(aws);
  const now = new Date();
  const finished = async (minutes: number) => {
    const answer = await cloudWatch.send(
      new GetMetricDataCommand({
        StartTime: new Date(now.getTime() - minutes * 60_000),
        EndTime: now,
        MetricDataQueries: [METRIC.deleted, METRIC.alreadyAbsent].map((name, i) => ({
          Id: `m${i}`,
          MetricStat: {
            Metric: {
              Namespace: METRIC_NAMESPACE,
              MetricName: name,
              Dimensions: [{ Name: "service", Value: METRIC_SERVICE }],
            },
            Period: minutes * 60,
            Stat: "Sum",
          },
        })),
      }),
    );
    return (answer.MetricDataResults ?? []).reduce(
      (sum, result) => sum + (result.Values ?? []).reduce((a, b) => a + b, 0),
      0,
    );
  };
  const [last5, last60] = await Promise.all([finished(5), finished(60)]);
  const perMinute = last60 / 60;
  const left = status.queue.waiting + status.queue.inFlight + status.queue.delayed;
  status.throughput = {
    last5Minutes: last5,
    last60Minutes: last60,
    etaMinutes: perMinute > 0 ? Math.ceil(left / perMinute) : undefined,
  };
  if (flags.stack) {
    const alarms = await cloudWatch.send(
      new DescribeAlarmsCommand({ AlarmNamePrefix: flags.stack, StateValue: "ALARM" }),
    );
    status.alarmsFiring = (alarms.MetricAlarms ?? []).map((alarm) => alarm.AlarmName ?? "?");
  } else {
    status.notes.push("alarms are read with --stack");
  }
  return status;
}

function describe(status: PipelineStatus): string {
  const q = status.queue;
  const lines = [
    table([
      ["jobs", "count"],
      ["waiting", q.waiting],
      ["in flight", q.inFlight],
      ["delayed (deferred)", q.delayed],
      ["dead letters", status.deadLetters.total],
    ]),
  ];
  const reasons = Object.entries(status.deadLetters.byReason);
  if (reasons.length > 0) lines.push("", table([["dead letters by reason", "count"], ...reasons]));
  if (status.throughput) {
    const t = status.throughput;
    lines.push(
      "",
      `finished (deleted or already absent): ${t.last5Minutes} in the last 5 min, ${t.last60Minutes} in the last 60 min; ETA ${t.etaMinutes === undefined ? "unknown (nothing finished in the last hour)" : `${t.etaMinutes} min`}`,
    );
  }
  if (status.alarmsFiring) {
    lines.push(
      status.alarmsFiring.length
        ? `ALARM: ${status.alarmsFiring.join(", ")}`
        : "alarms: none firing",
    );
  }
  for (const note of status.notes) lines.push(`(${note})`);
  return lines.join("\n");
}
