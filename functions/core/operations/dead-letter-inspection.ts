import type { Message, SQSClient } from "@aws-sdk/client-sqs";
import { QueueScan } from "./queue-scan.ts";
import { releaseMessages } from "./received-messages.ts";

export interface DeadLetterSample {
  messageId: string;
  reason: string;
  status: string | undefined;
  detail: string | undefined;
  failedAt: string | undefined;
  body: string;
}

export interface DeadLetterSummary {
  total: number;
  /**
   * Dead letters another reader held (in flight) when the scan ended: not in `total`, they
   * show again when that reader releases them or its visibility timeout ends.
   */
  inFlight: number;
  /** Dead letters SQS still counted as visible after 20 s of empty long polls: not in `total`. */
  unreceived: number;
  /**
   * Dead letters of a delivery another dead letter already stands for (the same
   * `source-message-id`): an invocation stopped after parking a job and before removing it from
   * the source queue parks it again on its next delivery. Counted in `total`.
   */
  repeats: number;
  byReason: Record<string, number>;
  byStatus: Record<string, number>;
  oldest: string | undefined;
  newest: string | undefined;
  samples: DeadLetterSample[];
  /** True when more messages were there than `maxMessages` allowed reading. */
  truncated: boolean;
}

/** The reason a dead letter carries; messages moved by SQS's own redrive carry none. */
export function deadLetterReason(message: Message): string {
  return message.MessageAttributes?.["failure-reason"]?.StringValue ?? "unknown";
}

/**
 * Reads the dead-letter queue without consuming it: messages are received with a short
 * visibility timeout and made visible again at once, so they stay on the queue. It reads until
 * long polls and SQS's counts agree the queue is read (`QueueScan`), not to the first empty
 * answer.
 *
 * @example
 * const summary = await inspectDeadLetters(sqs, dlqUrl);
 * console.log(summary.byReason); // { rejected: 3, unknown: 1 }
 */
export async function inspectDeadLetters(
  client: SQSClient,
  deadLetterQueueUrl: string,
  options: {
    maxMessages?: number;
    samplesPerReason?: number;
    /** The long poll that confirms an empty answer; default 1 s. */
    confirmWaitSeconds?: number;
  } = {},
): Promise<DeadLetterSummary> {
  const maxMessages = options.maxMessages ?? 10_000;
  const samplesPerReason = options.samplesPerReason ?? 2;
  const summary: DeadLetterSummary = {
    total: 0,
    inFlight: 0,
    unreceived: 0,
    repeats: 0,
    byReason: {},
    byStatus: {},
    oldest: undefined,
    newest: undefined,
    samples: [],
    truncated: false,
  };
  const scan = new QueueScan({
    client,
    queueUrl: deadLetterQueueUrl,
    visibilityTimeoutSeconds: 60,
    maxMessages,
    ...(options.confirmWaitSeconds !== undefined && {
      confirmWaitSeconds: options.confirmWaitSeconds,
    }),
  });
  const held: Message[] = [];
  try {
    for await (const messages of scan.pages()) held.push(...messages);
    summary.truncated = held.length >= maxMessages;
    summary.unreceived = scan.unreceived;
    if (!summary.truncated) summary.inFlight = await scan.heldByOthers(held.length);
    const sources = new Set<string>();
    for (const message of held) {
      addToSummary(summary, message, samplesPerReason);
      const source = message.MessageAttributes?.["source-message-id"]?.StringValue;
      if (source && sources.has(source)) summary.repeats += 1;
      if (source) sources.add(source);
    }
    return summary;
  } finally {
    await releaseMessages(client, deadLetterQueueUrl, held);
  }
}

function addToSummary(summary: DeadLetterSummary, message: Message, samplesPerReason: number) {
  const reason = deadLetterReason(message);
  const attributes = message.MessageAttributes ?? {};
  const status = attributes["failure-status"]?.StringValue;
  const failedAt =
    attributes["failed-at"]?.StringValue ??
    (message.Attributes?.SentTimestamp
      ? new Date(Number(message.Attributes.SentTimestamp)).toISOString()
      : undefined);
  summary.total += 1;
  summary.byReason[reason] = (summary.byReason[reason] ?? 0) + 1;
  const statusKey = status ?? "none";
  summary.byStatus[statusKey] = (summary.byStatus[statusKey] ?? 0) + 1;
  if (failedAt && (!summary.oldest || failedAt < summary.oldest)) summary.oldest = failedAt;
  if (failedAt && (!summary.newest || failedAt > summary.newest)) summary.newest = failedAt;
  if (summary.samples.filter((s) => s.reason === reason).length < samplesPerReason) {
    summary.samples.push({
      messageId: message.MessageId ?? "",
      reason,
      status,
      detail: attributes["failure-detail"]?.StringValue,
      failedAt,
      body: message.Body ?? "",
    });
  }
}
