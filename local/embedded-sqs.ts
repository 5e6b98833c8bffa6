import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
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
    createReportBucket: (name = LOCAL_REPORT_BUCKET) => createReportBucket(endpoint, name),
    stop: async () => {
      client.destroy();
      await server.stop();
    },
  };
}

export type EmbeddedSqs = Awaited<ReturnType<typeof startEmbeddedSqs>>;

/** The report bucket's name in local runs (fauxqs serves S3 on the same endpoint as SQS). */
export const LOCAL_REPORT_BUCKET = "ghl-csv-purge-reports";

/** An S3 client for fauxqs: dummy credentials, path-style URLs (its bucket hosts do not resolve). */
export function createLocalS3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
}

/** Creates the local report bucket, or finds it (a data dir keeps it between runs). */
export async function createReportBucket(endpoint: string, name: string): Promise<string> {
  const s3 = createLocalS3Client(endpoint);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: name }));
  } catch (error) {
    const code = (error as { name?: string }).name ?? "";
    if (!/BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(code)) throw error;
  } finally {
    s3.destroy();
  }
  return name;
}

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
