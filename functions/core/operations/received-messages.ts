import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";

/** Makes received messages visible again at once (10 per request): they stay on the queue. */
export async function releaseMessages(
  client: SQSClient,
  queueUrl: string,
  messages: Message[],
): Promise<void> {
  for (const chunk of chunksOf10(messages)) {
    await client.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle ?? "",
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
}

/** Deletes received messages, 10 per request. */
export async function deleteMessages(
  client: SQSClient,
  queueUrl: string,
  messages: Message[],
): Promise<void> {
  for (const chunk of chunksOf10(messages)) {
    await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle ?? "",
        })),
      }),
    );
  }
}

function* chunksOf10<T>(items: T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += 10) yield items.slice(i, i + 10);
}
