import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import type { SQSBatchResponse } from "aws-lambda";
import type { JobResult } from "../../functions/core/worker/deletion-worker.ts";
import type { RuntimeOverrides } from "../../functions/core/worker/worker-runtime.ts";
import { createDeleteCsvHandler } from "../../functions/delete-csv/create-handler.ts";
import {
  type EmbeddedSqs,
  type PipelineQueues,
  startEmbeddedSqs,
} from "../../local/embedded-sqs.ts";
import { SandboxHighLevelApi, type SandboxOptions } from "../../local/sandbox-api.ts";
import { toSqsEvent } from "../../local/sqs-event.ts";
import { lambdaContext } from "./lambda-context.ts";

export const TEST_TOKEN = "pit-SECRET-7f3a9c1e-DO-NOT-LOG";

export interface DeadLetter {
  body: string;
  attributes: Record<string, string>;
}

export interface Delivery {
  messages: Message[];
  response: SQSBatchResponse;
}

/**
 * The worker against real parts: fauxqs for the queues (through @aws-sdk/client-sqs), the
 * sandbox HighLevel API over HTTP on 127.0.0.1, and the real handler.
 */
export async function startWorkerHarness(
  options: {
    sandbox?: Partial<SandboxOptions>;
    env?: Record<string, string>;
    maxReceiveCount?: number;
    overrides?: Partial<RuntimeOverrides>;
  } = {},
) {
  const sandbox = new SandboxHighLevelApi({ tokens: [TEST_TOKEN], ...options.sandbox });
  const baseUrl = await sandbox.start();
  const sqs: EmbeddedSqs = await startEmbeddedSqs();
  const maxReceiveCount = options.maxReceiveCount ?? 3;
  const queues: PipelineQueues = await sqs.createPipelineQueues(`jobs-${Date.now()}`, {
    maxReceiveCount,
    // Failures come back at once in tests; the poller in local/ uses the real timeout.
    visibilityTimeoutSeconds: 0,
  });
  const env = {
    HIGHLEVEL_BASE_URL: baseUrl,
    HIGHLEVEL_TOKEN: TEST_TOKEN,
    QUEUE_URL: queues.queueUrl,
    DEAD_LETTER_QUEUE_URL: queues.deadLetterQueueUrl,
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    MAX_RECEIVE_COUNT: String(maxReceiveCount),
    HIGHLEVEL_TIMEOUT_MS: "2000",
    ...options.env,
  };
  const results: JobResult[] = [];
  const handler = createDeleteCsvHandler(env, {
    sqs: sqs.client,
    onSettled: (result) => results.push(result),
    ...options.overrides,
  });

  const queueName = (url: string) => url.split("/").pop() as string;

  const send = async (body: string, attributes: Record<string, string> = {}) => {
    const sent = await sqs.client.send(
      new SendMessageCommand({
        QueueUrl: queues.queueUrl,
        MessageBody: body,
        MessageAttributes: Object.fromEntries(
          Object.entries(attributes).map(([name, value]) => [
            name,
            { DataType: "Number", StringValue: value },
          ]),
        ),
      }),
    );
    return sent.MessageId as string;
  };

  const job = (locationId: string, csvId: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ locationId, csvId, ...extra });

  /** Up to `batchSize` visible messages, 10 per ReceiveMessage as Lambda's event source gathers them. */
  const receive = async (batchSize: number, visibilitySeconds?: number): Promise<Message[]> => {
    const messages: Message[] = [];
    for (;;) {
      const wanted = Math.min(10, batchSize - messages.length);
      const received = await sqs.client.send(
        new ReceiveMessageCommand({
          QueueUrl: queues.queueUrl,
          MaxNumberOfMessages: wanted,
          // The test queue's visibility is 0; a batch gathered in several receives must not
          // receive its own first messages again.
          ...((visibilitySeconds ?? (batchSize > 10 ? 30 : undefined)) !== undefined && {
            VisibilityTimeout: visibilitySeconds ?? 30,
          }),
          MessageSystemAttributeNames: ["All"],
          MessageAttributeNames: ["All"],
          WaitTimeSeconds: 0,
        }),
      );
      messages.push(...(received.Messages ?? []));
      // A short receive means the queue has no more visible now (the test queue's visibility
      // is 0: receiving again would bring the same messages back).
      if ((received.Messages?.length ?? 0) < wanted || messages.length >= batchSize) {
        return messages;
      }
    }
  };

  /**
   * Receives up to `batchSize` (10) visible messages, runs the handler on them like Lambda would,
   * deletes the successes. `acknowledge: false` plays an invocation that timed out: nothing is
   * deleted. `visibilitySeconds` overrides the test queue's 0 for this receive.
   */
  const deliver = async (
    remainingMs = 60_000,
    {
      acknowledge = true,
      batchSize = 10,
      visibilitySeconds,
    }: { acknowledge?: boolean; batchSize?: number; visibilitySeconds?: number } = {},
  ): Promise<Delivery> => {
    const messages = await receive(batchSize, visibilitySeconds);
    if (messages.length === 0) return { messages, response: { batchItemFailures: [] } };
    const response = (await handler(
      toSqsEvent(messages, queues.queueArn),
      lambdaContext(remainingMs),
    )) as SQSBatchResponse;
    const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
    const done = messages.filter((message) => !failed.has(message.MessageId as string));
    for (let from = 0; acknowledge && from < done.length; from += 10) {
      await sqs.client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queues.queueUrl,
          Entries: done.slice(from, from + 10).map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle as string,
          })),
        }),
      );
    }
    return { messages, response };
  };

  /** Dead letters, read without consuming them. */
  const deadLetters = (): DeadLetter[] => {
    const queue = sqs.server.inspectQueue(queueName(queues.deadLetterQueueUrl));
    const all = queue ? [...queue.messages.ready, ...queue.messages.delayed] : [];
    return all.map((message) => ({
      body: message.body,
      attributes: Object.fromEntries(
        Object.entries(message.messageAttributes ?? {}).map(([name, value]) => [
          name,
          value.StringValue ?? "",
        ]),
      ),
    }));
  };

  /** Messages still on the source queue (ready, delayed or in flight). */
  const pending = () => {
    const queue = sqs.server.inspectQueue(queueName(queues.queueUrl));
    if (!queue) return [];
    return [
      ...queue.messages.ready,
      ...queue.messages.delayed,
      ...queue.messages.inflight.map((entry) => entry.message),
    ];
  };

  return {
    sandbox,
    sqs,
    queues,
    env,
    handler,
    results,
    send,
    job,
    deliver,
    deadLetters,
    pending,
    stop: async () => {
      await sandbox.stop();
      await sqs.stop();
    },
  };
}

export type WorkerHarness = Awaited<ReturnType<typeof startWorkerHarness>>;
