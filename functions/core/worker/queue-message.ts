import type { MessageAttributeValue } from "@aws-sdk/client-sqs";

/**
 * A message as the worker sees it, whoever delivered it (Lambda's event source, the local
 * poller): no Lambda types past this point.
 */
export interface QueueMessage {
  messageId: string;
  /** Lets the worker delete a message it has parked at once; empty when unknown. */
  receiptHandle: string;
  body: string;
  /** SQS's ApproximateReceiveCount for this delivery (1 on the first). */
  receiveCount: number;
  /** Times the job was deferred already, from the `deferrals` attribute (0 when absent). */
  deferrals: number;
}

export const DEFERRALS_ATTRIBUTE = "deferrals";

/** Reads the `deferrals` count from message attributes in either SDK or Lambda-event spelling. */
export function readDeferrals(
  attributes:
    | Record<string, { StringValue?: string; stringValue?: string } | undefined>
    | undefined,
): number {
  const attribute = attributes?.[DEFERRALS_ATTRIBUTE];
  const raw = attribute?.StringValue ?? attribute?.stringValue;
  const value = Number(raw);
  return Number.isInteger(value) && value > 0 ? value : 0;
}

export type MessageAttributes = Record<string, MessageAttributeValue>;
