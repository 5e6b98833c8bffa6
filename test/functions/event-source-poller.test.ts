import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { GetQueueAttributesCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmbeddedSqs, startEmbeddedSqs } from "../../local/embedded-sqs.ts";
import { EventSourcePoller, type SqsHandler } from "../../local/event-source-poller.ts";
import {
  fetchUnlessStopped,
  InvocationStoppedError,
  REFUSE_STOPPED_INVOCATIONS,
  refuseStoppedInvocations,
} from "../../local/invocation-scope.ts";

let sqs: EmbeddedSqs;
let server: Server;
let serverUrl: string;
let requestsSeen = 0;
let queues = 0;

beforeAll(async () => {
  sqs = await startEmbeddedSqs();
  sqs.client.middlewareStack.add(refuseStoppedInvocations, REFUSE_STOPPED_INVOCATIONS);
  server = createServer((_request, response) => {
    requestsSeen += 1;
    response.end("{}");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await sqs.stop();
});

async function freshQueues() {
  queues += 1;
  return sqs.createPipelineQueues(`poller-${queues}`, {
    maxReceiveCount: 5,
    visibilityTimeoutSeconds: 30,
  });
}

/** One invocation at a time, one message each, as a Lambda container with a batch of one. */
function pollerOf(
  pair: { queueUrl: string; queueArn: string },
  handler: SqsHandler,
  functionTimeoutMs: number,
  onBatch: NonNullable<ConstructorParameters<typeof EventSourcePoller>[0]["onBatch"]>,
) {
  return new EventSourcePoller({
    client: sqs.client,
    queueUrl: pair.queueUrl,
    queueArn: pair.queueArn,
    handler,
    batchSize: 1,
    batchingWindowMs: 0,
    maxConcurrency: 1,
    functionTimeoutMs,
    onBatch,
  });
}

async function messagesOn(client: SQSClient, queueUrl: string) {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return {
    visible: Number(Attributes?.ApproximateNumberOfMessages),
    notVisible: Number(Attributes?.ApproximateNumberOfMessagesNotVisible),
  };
}

describe("the local event source's timeout", () => {
  it("drops what an invocation does after its timeout, as Lambda's kill would", async () => {
    const pair = await freshQueues();
    await sqs.client.send(new SendMessageCommand({ QueueUrl: pair.queueUrl, MessageBody: "job" }));
    let timedOut!: () => void;
    const pastTimeout = new Promise<void>((resolve) => {
      timedOut = resolve;
    });
    let lateEffects!: (errors: unknown[]) => void;
    const lateEffectsTried = new Promise<unknown[]>((resolve) => {
      lateEffects = resolve;
    });
    const handler: SqsHandler = async () => {
      await pastTimeout;
      const errors = await Promise.all([
        sqs.client
          .send(new SendMessageCommand({ QueueUrl: pair.deadLetterQueueUrl, MessageBody: "late" }))
          .then(
            () => undefined,
            (error: unknown) => error,
          ),
        fetchUnlessStopped(serverUrl, { method: "DELETE" }).then(
          () => undefined,
          (error: unknown) => error,
        ),
      ]);
      lateEffects(errors);
      return { batchItemFailures: [] };
    };
    const batches: Array<{ crashed: boolean; failures: number }> = [];
    const poller = pollerOf(pair, handler, 100, (batch) => {
      batches.push(batch);
      timedOut();
    });
    poller.start();
    const errors = await lateEffectsTried;
    await poller.stop();

    expect(batches[0]).toMatchObject({ crashed: true, failures: 1 });
    expect(errors).toHaveLength(2);
    for (const error of errors) expect(error).toBeInstanceOf(InvocationStoppedError);
    expect(requestsSeen).toBe(0);
    expect(await messagesOn(sqs.client, pair.deadLetterQueueUrl)).toEqual({
      visible: 0,
      notVisible: 0,
    });
    // Not deleted: it comes back after its visibility timeout, as a timed-out batch's do.
    expect(await messagesOn(sqs.client, pair.queueUrl)).toEqual({ visible: 0, notVisible: 1 });
  });

  it("lets an invocation within its time send, and deletes what it settled", async () => {
    const pair = await freshQueues();
    await sqs.client.send(new SendMessageCommand({ QueueUrl: pair.queueUrl, MessageBody: "job" }));
    let settled!: () => void;
    const batchDone = new Promise<void>((resolve) => {
      settled = resolve;
    });
    const before = requestsSeen;
    const handler: SqsHandler = async () => {
      await sqs.client.send(
        new SendMessageCommand({ QueueUrl: pair.deadLetterQueueUrl, MessageBody: "in time" }),
      );
      await (await fetchUnlessStopped(serverUrl, { method: "DELETE" })).text();
      return { batchItemFailures: [] };
    };
    // Only a hang reaches the timeout.
    const poller = pollerOf(pair, handler, 30_000, () => settled());
    poller.start();
    await batchDone;
    await poller.stop();

    expect(requestsSeen - before).toBe(1);
    expect(await messagesOn(sqs.client, pair.deadLetterQueueUrl)).toEqual({
      visible: 1,
      notVisible: 0,
    });
    expect(await messagesOn(sqs.client, pair.queueUrl)).toEqual({ visible: 0, notVisible: 0 });
  });
});
