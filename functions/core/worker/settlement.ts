import type { SQSClient } from "@aws-sdk/client-sqs";
import * as v from "valibot";
import { messageGroupOf, parseDeletionJob } from "../producers/deletion-job.ts";
import type { RunEntry } from "../runs/run-recorder.ts";
import { FAILURE_REASONS } from "./outcome.ts";
import {
  type AttributeMap,
  type MessageAttributes,
  originOf,
  type QueueMessage,
  readAttribute,
  SOURCE_MESSAGE_ATTRIBUTE,
} from "./queue-message.ts";

/*
 * A settlement is a job HighLevel is done with whose row or count its run does not have yet
 * (the report bucket or the table failed, or the invocation ran out of time to write them).
 * It goes back on the queue as the job's body with the result in `SETTLEMENT_ATTRIBUTE`; its
 * next delivery writes what is missing and calls nobody. A container holding a result in
 * memory can be killed or never invoked again; a message on the queue cannot be lost that way.
 */

export const SETTLEMENT_ATTRIBUTE = "settled-result";

/** After this many sends the result stays with the container (and a line says so). */
export const MAX_SETTLEMENT_ROUNDS = 10;

/** What a run still lacks of a settled job. */
export interface MissingParts {
  line: boolean;
  count: boolean;
}

export interface Settlement {
  entry: RunEntry;
  missing: MissingParts;
  /** The message the job settled as: its row names it, whichever copy writes the row. */
  messageId: string;
  finishedAt: string;
  /** Times the settlement was sent; the first send is round 1. */
  rounds: number;
}

const text = (max: number) => v.pipe(v.string(), v.maxLength(max));
const SettlementSchema = v.object({
  entry: v.object({
    runId: text(128),
    line: v.optional(
      v.object({
        locationId: text(128),
        csvId: text(128),
        outcome: v.picklist(["deleted", "already-absent", "dead-lettered"]),
        reason: v.optional(v.picklist(FAILURE_REASONS)),
        status: v.optional(v.pipe(v.number(), v.integer())),
        detail: v.optional(text(2048)),
        attempts: v.pipe(v.number(), v.integer(), v.minValue(0)),
      }),
    ),
    redrivenFrom: v.optional(v.picklist(FAILURE_REASONS)),
  }),
  missing: v.object({ line: v.boolean(), count: v.boolean() }),
  messageId: text(128),
  finishedAt: v.pipe(v.string(), v.isoTimestamp()),
  rounds: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_SETTLEMENT_ROUNDS)),
});

/**
 * The settlement a message carries. One that does not read as one (a stray attribute, a
 * hand-made message) is ignored: the message is then handled as the job its body is, which
 * at worst finds the upload gone.
 */
export function readSettlement(attributes: AttributeMap): Settlement | undefined {
  const raw = readAttribute(attributes, SETTLEMENT_ATTRIBUTE);
  if (!raw || raw.length > 8_192) return undefined;
  try {
    const parsed = v.safeParse(SettlementSchema, JSON.parse(raw));
    return parsed.success ? (parsed.output as Settlement) : undefined;
  } catch {
    return undefined;
  }
}

/** Seconds before a settlement's next delivery: at once first, then backing off to 15 minutes. */
export function settlementDelaySeconds(rounds: number): number {
  return rounds <= 1 ? 0 : Math.min(900, 10 * 2 ** (rounds - 2));
}

/**
 * Sends settlements to the job queue, ten to a request. Resolves with the ids of the messages
 * whose settlement the queue accepted; the others are the caller's to keep.
 */
export async function sendSettlements(
  sqs: SQSClient,
  queueUrl: string,
  items: readonly {
    message: Pick<QueueMessage, "messageId" | "body" | "originId">;
    settlement: Settlement;
  }[],
  options: { abortSignal?: AbortSignal } = {},
): Promise<Set<string>> {
  const { SendMessageBatchCommand } = await import("@aws-sdk/client-sqs");
  const sent = new Set<string>();
  for (let start = 0; start < items.length; start += 10) {
    const chunk = items.slice(start, start + 10);
    try {
      const answer = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map(({ message, settlement }, index) => {
            const parsed = parseDeletionJob(message.body);
            return {
              Id: String(index),
              MessageBody: message.body,
              DelaySeconds: settlementDelaySeconds(settlement.rounds),
              ...(parsed.ok && { MessageGroupId: messageGroupOf(parsed.job) }),
              MessageAttributes: settlementAttributes(message, settlement),
            };
          }),
        }),
        { abortSignal: options.abortSignal },
      );
      for (const { Id } of answer.Successful ?? []) {
        const item = chunk[Number(Id)];
        if (item) sent.add(item.message.messageId);
      }
    } catch {
      // This chunk stays with the caller; the next may still go, unless time is up.
      if (options.abortSignal?.aborted) break;
    }
  }
  return sent;
}

function settlementAttributes(
  message: Pick<QueueMessage, "messageId" | "originId">,
  settlement: Settlement,
): MessageAttributes {
  return {
    [SETTLEMENT_ATTRIBUTE]: { DataType: "String", StringValue: JSON.stringify(settlement) },
    [SOURCE_MESSAGE_ATTRIBUTE]: { DataType: "String", StringValue: originOf(message) },
  };
}
