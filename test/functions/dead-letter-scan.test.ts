import {
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectDeadLetters } from "../../functions/core/operations/dead-letter-inspection.ts";
import { redriveDeadLetters } from "../../functions/core/operations/dead-letter-redrive.ts";
import {
  createLocalSqsClient,
  type EmbeddedSqs,
  startEmbeddedSqs,
} from "../../local/embedded-sqs.ts";

const DEAD_LETTERS = 35;
let sqs: EmbeddedSqs;
let queues = 0;

beforeAll(async () => {
  sqs = await startEmbeddedSqs();
});
afterAll(async () => {
  await sqs.stop();
});

/** A fresh pair of queues with `count` dead letters on the DLQ. */
async function deadLetterQueue(count: number, sourceMessageId?: (index: number) => string) {
  queues += 1;
  const pair = await sqs.createPipelineQueues(`scan-${queues}`, {
    maxReceiveCount: 3,
    visibilityTimeoutSeconds: 30,
  });
  for (let start = 0; start < count; start += 10) {
    await sqs.client.send(
      new SendMessageBatchCommand({
        QueueUrl: pair.deadLetterQueueUrl,
        Entries: Array.from({ length: Math.min(10, count - start) }, (_, i) => ({
          Id: String(i),
          MessageBody: JSON.stringify({ locationId: "scanLoc", csvId: `dead${start + i}` }),
          MessageAttributes: {
            "failure-reason": { DataType: "String", StringValue: "exhausted" },
            ...(sourceMessageId && {
              "source-message-id": { DataType: "String", StringValue: sourceMessageId(start + i) },
            }),
          },
        })),
      }),
    );
  }
  return pair;
}

/**
 * The real client against fauxqs, except that every other short poll answers empty, as SQS's
 * short polls do when the servers they sample hold none of the queue's messages.
 */
function clientWithEmptyShortPolls(): { client: SQSClient; emptied: () => number } {
  const client = createLocalSqsClient(sqs.endpoint);
  let shortPolls = 0;
  let emptied = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      const command = args.input as { WaitTimeSeconds?: number; MaxNumberOfMessages?: number };
      const isReceive = "MaxNumberOfMessages" in command && "VisibilityTimeout" in command;
      if (isReceive && (command.WaitTimeSeconds ?? 0) === 0) {
        shortPolls += 1;
        if (shortPolls % 2 === 0) {
          emptied += 1;
          return { output: { Messages: [], $metadata: {} }, response: {} };
        }
      }
      return next(args);
    },
    { step: "initialize", name: "emptyShortPolls" },
  );
  return { client, emptied: () => emptied };
}

async function depth(queueUrl: string) {
  const { GetQueueAttributesCommand } = await import("@aws-sdk/client-sqs");
  const { Attributes } = await sqs.client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return {
    visible: Number(Attributes?.ApproximateNumberOfMessages),
    inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible),
  };
}

describe("dead-letter scans read to the end, not to the first empty answer", () => {
  it("a redrive moves every dead letter though SQS answers empty short polls while they remain", async () => {
    const pair = await deadLetterQueue(DEAD_LETTERS);
    const { client, emptied } = clientWithEmptyShortPolls();
    try {
      const report = await redriveDeadLetters({
        client,
        deadLetterQueueUrl: pair.deadLetterQueueUrl,
        queueUrl: pair.queueUrl,
        useMoveTask: false,
      });
      expect(emptied()).toBeGreaterThan(0);
      expect(report).toMatchObject({
        moved: DEAD_LETTERS,
        scanned: DEAD_LETTERS,
        inFlight: 0,
        unreceived: 0,
      });
      expect(await depth(pair.deadLetterQueueUrl)).toEqual({ visible: 0, inFlight: 0 });
      expect(await depth(pair.queueUrl)).toEqual({ visible: DEAD_LETTERS, inFlight: 0 });
    } finally {
      client.destroy();
    }
  });

  it("an inspection counts every dead letter through empty short polls, and consumes none", async () => {
    const pair = await deadLetterQueue(DEAD_LETTERS);
    const { client, emptied } = clientWithEmptyShortPolls();
    try {
      const summary = await inspectDeadLetters(client, pair.deadLetterQueueUrl);
      expect(emptied()).toBeGreaterThan(0);
      expect(summary).toMatchObject({
        total: DEAD_LETTERS,
        inFlight: 0,
        repeats: 0,
        byReason: { exhausted: DEAD_LETTERS },
      });
      expect(await depth(pair.deadLetterQueueUrl)).toEqual({ visible: DEAD_LETTERS, inFlight: 0 });
    } finally {
      client.destroy();
    }
  });

  it("counts the dead letters that repeat another's source message (one delivery parked twice)", async () => {
    const pair = await deadLetterQueue(DEAD_LETTERS, (index) => `source-${index % 30}`);
    const summary = await inspectDeadLetters(sqs.client, pair.deadLetterQueueUrl);
    expect(summary).toMatchObject({ total: DEAD_LETTERS, repeats: DEAD_LETTERS - 30 });
  });

  it("says how many dead letters another reader held, and moves the rest", async () => {
    const pair = await deadLetterQueue(DEAD_LETTERS);
    // Another reader (a second operator's inspect, say) holds four for five minutes.
    const other = await sqs.client.send(
      new ReceiveMessageCommand({
        QueueUrl: pair.deadLetterQueueUrl,
        MaxNumberOfMessages: 4,
        VisibilityTimeout: 300,
      }),
    );
    const heldByOther = other.Messages?.length ?? 0;
    expect(heldByOther).toBe(4);
    const summary = await inspectDeadLetters(sqs.client, pair.deadLetterQueueUrl);
    expect(summary).toMatchObject({ total: DEAD_LETTERS - heldByOther, inFlight: heldByOther });
    const dry = await redriveDeadLetters({
      client: sqs.client,
      deadLetterQueueUrl: pair.deadLetterQueueUrl,
      queueUrl: pair.queueUrl,
      dryRun: true,
    });
    expect(dry).toMatchObject({
      moved: 0,
      matched: DEAD_LETTERS - heldByOther,
      inFlight: heldByOther,
    });
    const report = await redriveDeadLetters({
      client: sqs.client,
      deadLetterQueueUrl: pair.deadLetterQueueUrl,
      queueUrl: pair.queueUrl,
      useMoveTask: false,
    });
    expect(report).toMatchObject({ moved: DEAD_LETTERS - heldByOther, inFlight: heldByOther });
    expect(await depth(pair.deadLetterQueueUrl)).toEqual({ visible: 0, inFlight: heldByOther });
  });
});
