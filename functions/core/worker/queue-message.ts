import type { MessageAttributeValue } from "@aws-sdk/client-sqs";
import { FAILURE_REASONS, type FailureReason } from "./outcome.ts";

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
  /**
   * The dead letter's `failure-reason` when the message was redriven from the DLQ (move tasks
   * keep attributes): its run counted it as that dead letter, which its new outcome replaces.
   */
  redrivenFrom?: FailureReason;
  /**
   * The id of the job's first message when this one is a deferral of it (the
   * `source-message-id` attribute deferrals carry): one job, however many times it was sent back.
   */
  originId?: string;
}

export const DEFERRALS_ATTRIBUTE = "deferrals";
export const FAILURE_REASON_ATTRIBUTE = "failure-reason";
export const SOURCE_MESSAGE_ATTRIBUTE = "source-message-id";

/** Message attributes in either spelling: the SDK's (`StringValue`) or a Lambda event's. */
export type AttributeMap =
  | Record<string, { StringValue?: string; stringValue?: string } | undefined>
  | undefined;

/** A string attribute's value, whichever spelling carries it. */
export function readAttribute(attributes: AttributeMap, name: string): string | undefined {
  const attribute = attributes?.[name];
  return attribute?.StringValue ?? attribute?.stringValue;
}

/** The reason a redriven dead letter carries, when it is one the worker gives. */
export function readRedrivenFrom(attributes: AttributeMap): FailureReason | undefined {
  const raw = readAttribute(attributes, FAILURE_REASON_ATTRIBUTE);
  return FAILURE_REASONS.find((reason) => reason === raw);
}

/** The id of the job's first message, from the `source-message-id` a deferral carries. */
export function readOriginId(attributes: AttributeMap): string | undefined {
  const raw = readAttribute(attributes, SOURCE_MESSAGE_ATTRIBUTE);
  return raw && raw.length <= 128 ? raw : undefined;
}

/** The job's first message: this one, unless it is a deferral of an earlier one. */
export function originOf(message: Pick<QueueMessage, "messageId" | "originId">): string {
  return message.originId ?? message.messageId;
}

/** Reads the `deferrals` count from message attributes in either SDK or Lambda-event spelling. */
export function readDeferrals(attributes: AttributeMap): number {
  const value = Number(readAttribute(attributes, DEFERRALS_ATTRIBUTE));
  return Number.isInteger(value) && value > 0 ? value : 0;
}

export type MessageAttributes = Record<string, MessageAttributeValue>;
