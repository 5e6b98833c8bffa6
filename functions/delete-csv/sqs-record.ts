import type { SQSRecord } from "aws-lambda";
import {
  type QueueMessage,
  readDeferrals,
  readOriginId,
  readRedrivenFrom,
} from "../core/worker/queue-message.ts";

/** Lambda's SQS record as the worker's QueueMessage. */
export function toQueueMessage(record: SQSRecord): QueueMessage {
  const receiveCount = Number(record.attributes?.ApproximateReceiveCount);
  const redrivenFrom = readRedrivenFrom(record.messageAttributes);
  const originId = readOriginId(record.messageAttributes);
  return {
    messageId: record.messageId,
    receiptHandle: record.receiptHandle ?? "",
    body: record.body,
    receiveCount: Number.isInteger(receiveCount) && receiveCount > 0 ? receiveCount : 1,
    deferrals: readDeferrals(record.messageAttributes),
    ...(redrivenFrom && { redrivenFrom }),
    ...(originId && { originId }),
  };
}
