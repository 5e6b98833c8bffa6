import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { startFauxqs } from "fauxqs";
import { fixFauxqsReadyPersistence } from "./fauxqs-persistence-fix.ts";

export interface PipelineQueues {
  queueUrl: string;
  queueArn: string;
  deadLetterQueueUrl: string;
  deadLetterQueueArn: string;
}

export interface QueueSettings {
  maxReceiveCount: number;
  visibilityTimeoutSeconds: number;
}

/**
 * fauxqs in-process, on 127.0.0.1, with an SQS client pointed at it. Its queue URLs name a host
 * that does not resolve here, so the client uses the endpoint, never the queue URL's host.
 */
export async function startEmbeddedSqs(options: { dataDir?: string } = {}) {
  if (options.dataDir) await fixFauxqsReadyPersistence();
  const server = await startFauxqs({
    port: 0,
    host: "127.0.0.1",
    logger: false,
    ...(options.dataDir && { dataDir: options.dataDir }),
  });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const client = createLocalSqsClient(endpoint);

  /** Creates (or finds) the source queue and its DLQ with the stack's redrive and timeouts. */
  const createPipelineQueues = async (
    name: string,
    settings: QueueSettings,
  ): Promise<PipelineQueues> => {
    const deadLetter = await client.send(
      new CreateQueueCommand({
        QueueName: `${name}-dlq`,
        Attributes: { MessageRetentionPeriod: String(14 * 24 * 3600) },
      }),
    );
    const deadLetterQueueUrl = deadLetter.QueueUrl as string;
    const deadLetterQueueArn = await queueArn(client, deadLetterQueueUrl);
    const source = await client.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: {
          VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: deadLetterQueueArn,
            maxReceiveCount: String(settings.maxReceiveCount),
          }),
        },
      }),
    );
    const queueUrl = source.QueueUrl as string;
    // A queue kept in a data dir by an older run keeps its old settings unless told.
    await client.send(
      new SetQueueAttributesCommand({
        QueueUrl: queueUrl,
        Attributes: { VisibilityTimeout: String(settings.visibilityTimeoutSeconds) },
      }),
    );
    return {
      queueUrl,
      queueArn: await queueArn(client, queueUrl),
      deadLetterQueueUrl,
      deadLetterQueueArn,
    };
  };

  return {
    endpoint,
    client,
    server,
    createPipelineQueues,
    stop: async () => {
      client.destroy();
      await server.stop();
    },
  };
}

export type EmbeddedSqs = Awaited<ReturnType<typeof startEmbeddedSqs>>;

/** An SQS client for a local endpoint (fauxqs), with dummy credentials. */
export function createLocalSqsClient(endpoint: string): SQSClient {
  return new SQSClient({
    endpoint,
    region: "us-east-1",
    useQueueUrlAsEndpoint: false,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
}

async function queueArn(client: SQSClient, queueUrl: string): Promise<string> {
  const attributes = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
  );
  return attributes.Attributes?.QueueArn as string;
}
