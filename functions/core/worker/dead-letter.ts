import type { SQSClient } from "@aws-sdk/client-sqs";
import { clip } from "../detail.ts";
import type { FailureReason } from "./outcome.ts";
import {
  DEFERRALS_ATTRIBUTE,
  FAILURE_REASON_ATTRIBUTE,
  type MessageAttributes,
  originOf,
  type QueueMessage,
  SOURCE_MESSAGE_ATTRIBUTE,
} from "./queue-message.ts";

export { MAX_DETAIL_BYTES as MAX_FAILURE_DETAIL_BYTES } from "../detail.ts";

export interface Failure {
  reason: FailureReason;
  status?: number;
  detail: string;
  attempts: number;
}

/**
 * The `failure-*` attributes of a dead letter. `redact` removes secrets (the token) from the
 * detail before it is cut to 1 KiB.
 *
 * @example
 * failureAttributes({ reason: "rejected", status: 422, detail: "Unprocessable Entity", attempts: 1 }, "m-1", new Date())
 */
export function failureAttributes(
  failure: Failure,
  sourceMessageId: string,
  failedAt: Date,
  redact: (text: string) => string = (text) => text,
): MessageAttributes {
  const attributes: MessageAttributes = {
    "failure-reason": { DataType: "String", StringValue: failure.reason },
    "failure-detail": { DataType: "String", StringValue: cleanDetail(redact(failure.detail)) },
    "failure-attempts": { DataType: "Number", StringValue: String(failure.attempts) },
    "failed-at": { DataType: "String", StringValue: failedAt.toISOString() },
    [SOURCE_MESSAGE_ATTRIBUTE]: { DataType: "String", StringValue: sourceMessageId },
  };
  if (failure.status !== undefined) {
    attributes["failure-status"] = { DataType: "Number", StringValue: String(failure.status) };
  }
  return attributes;
}

/**
 * Sends the job, byte for byte, to the dead-letter queue with the reason attached. A body so
 * large that it and the attributes pass the queue's size limit is sent with fewer attributes
 * (first without `failure-detail`, then with `failure-reason` alone) rather than not at all.
 */
export async function sendToDeadLetterQueue(
  sqs: SQSClient,
  deadLetterQueueUrl: string,
  message: QueueMessage,
  failure: Failure,
  options: { redact?: (text: string) => string; abortSignal?: AbortSignal } = {},
): Promise<void> {
  const { SendMessageCommand } = await loadSqs();
  const full = failureAttributes(failure, originOf(message), new Date(), options.redact);
  const { "failure-detail": _detail, ...withoutDetail } = full;
  const reasonOnly: MessageAttributes = { "failure-reason": full["failure-reason"] as never };
  for (const attributes of [full, withoutDetail, reasonOnly]) {
    try {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: deadLetterQueueUrl,
          MessageBody: message.body,
          MessageAttributes: attributes,
        }),
        { abortSignal: options.abortSignal },
      );
      return;
    } catch (error) {
      if (!isTooLarge(error) || attributes === reasonOnly) throw error;
    }
  }
}

/**
 * Sends a throttled job back to its source queue to come back after `delaySeconds`, counting
 * the deferral, so that waiting out a rate limit does not use up `maxReceiveCount`.
 */
export async function deferToSourceQueue(
  sqs: SQSClient,
  queueUrl: string,
  message: QueueMessage,
  deferral: { delaySeconds: number; deferrals: number },
  options: { abortSignal?: AbortSignal; messageGroupId?: string } = {},
): Promise<void> {
  const { SendMessageCommand } = await loadSqs();
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: message.body,
      ...(options.messageGroupId && { MessageGroupId: options.messageGroupId }),
      DelaySeconds: deferral.delaySeconds,
      MessageAttributes: {
        [DEFERRALS_ATTRIBUTE]: { DataType: "Number", StringValue: String(deferral.deferrals) },
        // The job's first message: a deferral is the same job, not another one.
        [SOURCE_MESSAGE_ATTRIBUTE]: { DataType: "String", StringValue: originOf(message) },
        // A redriven dead letter stays one until it settles: its run's counts depend on it.
        ...(message.redrivenFrom && {
          [FAILURE_REASON_ATTRIBUTE]: { DataType: "String", StringValue: message.redrivenFrom },
        }),
      },
    }),
    { abortSignal: options.abortSignal },
  );
}

/**
 * Deletes a delivered message from its source queue at once. The worker does this for a job it
 * has parked (dead-lettered or deferred) so that, should the invocation then time out, the next
 * delivery does not park it a second time.
 */
export async function removeFromSourceQueue(
  sqs: SQSClient,
  queueUrl: string,
  message: QueueMessage,
  options: { abortSignal?: AbortSignal } = {},
): Promise<void> {
  if (!message.receiptHandle) return;
  const { DeleteMessageCommand } = await loadSqs();
  await sqs.send(
    new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.receiptHandle }),
    { abortSignal: options.abortSignal },
  );
}

/**
 * Makes a delivered message visible again in `visibilitySeconds` (a job handed back while its
 * location's budget is booked), instead of after the queue's whole visibility timeout.
 */
export async function showAgainAfter(
  sqs: SQSClient,
  queueUrl: string,
  message: QueueMessage,
  visibilitySeconds: number,
  options: { abortSignal?: AbortSignal } = {},
): Promise<void> {
  if (!message.receiptHandle) return;
  const { ChangeMessageVisibilityCommand } = await loadSqs();
  await sqs.send(
    new ChangeMessageVisibilityCommand({
      QueueUrl: queueUrl,
      ReceiptHandle: message.receiptHandle,
      VisibilityTimeout: visibilitySeconds,
    }),
    { abortSignal: options.abortSignal },
  );
}

/** SQS's answer when body and attributes pass the queue's MaximumMessageSize. */
function isTooLarge(error: unknown): boolean {
  const { name, message } = error as { name?: string; message?: string };
  // The JSON protocol names it `AWS.SimpleQueueService.InvalidParameterValue` or `InvalidParameterValue`.
  return (
    /InvalidParameterValue$/.test(name ?? "") && /shorter than|too long|size/i.test(message ?? "")
  );
}

/**
 * The SQS SDK is loaded on first use: most jobs are deleted and never touch SQS from the worker
 * (Lambda's event source deletes them), so a cold start without dead letters skips its ~40 ms.
 */
const loadSqs = () => import("@aws-sdk/client-sqs");

/** SQS accepts only XML-safe characters in attribute values, and the DLQ keeps 1 KiB of detail. */
function cleanDetail(detail: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
  const safe = detail.replace(/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD]/gu, "?").trim() || "(none)";
  return clip(safe);
}
