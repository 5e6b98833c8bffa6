import {
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
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
   * Dead letters another reader held (in flight) when inspection began: not in `total`, they
   * show again when that reader releases them or its visibility timeout ends.
   */
  inFlight: number;
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
 * visibility timeout and made visible again at once, so they stay on the queue.
 *
 * @example
 * const summary = await inspectDeadLetters(sqs, dlqUrl);
 * console.log(summary.byReason); // { rejected: 3, unknown: 1 }
 */
export async function inspectDeadLetters(
  client: SQSClient,
  deadLetterQueueUrl: string,
  options: { maxMessages?: number; samplesPerReason?: number } = {},
): Promise<DeadLetterSummary> {
  const maxMessages = options.maxMessages ?? 10_000;
  const samplesPerReason = options.samplesPerReason ?? 2;
  const summary: DeadLetterSummary = {
    total: 0,
    inFlight: await messagesInFlight(client, deadLetterQueueUrl),
    byReason: {},
    byStatus: {},
    oldest: undefined,
    newest: undefined,
    samples: [],
    truncated: false,
  };
  const held: Message[] = [];
  try {
    while (held.length < maxMessages) {
      const received = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: deadLetterQueueUrl,
          MaxNumberOfMessages: Math.min(10, maxMessages - held.length),
          VisibilityTimeout: 60,
          WaitTimeSeconds: 0,
          MessageAttributeNames: ["All"],
          MessageSystemAttributeNames: ["All"],
        }),
      );
      const messages = received.Messages ?? [];
      if (messages.length === 0) break;
      held.push(...messages);
    }
    summary.truncated = held.length >= maxMessages;
    for (const message of held) addToSummary(summary, message, samplesPerReason);
    return summary;
  } finally {
    await releaseMessages(client, deadLetterQueueUrl, held);
  }
}

async function messagesInFlight(client: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
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
