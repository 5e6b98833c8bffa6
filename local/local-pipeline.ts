import { join } from "node:path";
import { GetQueueAttributesCommand, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import type { WorkerLog } from "../functions/core/worker/deletion-worker.ts";
import { createPacer } from "../functions/core/worker/worker-runtime.ts";
import { createDeleteCsvHandler } from "../functions/delete-csv/create-handler.ts";
import { localVisibilityTimeoutSeconds, PIPELINE_DEFAULTS } from "../infra/settings.ts";
import { createLocalDynamoDbClient, startEmbeddedDynamoDb } from "./embedded-dynamodb.ts";
import {
  createLocalS3Client,
  createLocalSqsClient,
  type EmbeddedSqs,
  type PipelineQueues,
  startEmbeddedSqs,
} from "./embedded-sqs.ts";
import { EventSourcePoller, type PollerOptions } from "./event-source-poller.ts";
import {
  fetchUnlessStopped,
  REFUSE_STOPPED_INVOCATIONS,
  refuseStoppedInvocations,
} from "./invocation-scope.ts";
import { OutcomeTally } from "./outcome-tally.ts";
import { type TokenFileOptions, useTokenFile } from "./token-file.ts";

export const LOCAL_QUEUE_NAME = "ghl-csv-purge-jobs";

export interface LocalPipelineOptions {
  /** HighLevel's origin: the sandbox's URL, or the real API for --live. */
  highLevelBaseUrl: string;
  token: string;
  /** Keep the embedded queue on disk so that an interrupted run can resume. */
  dataDir?: string;
  /** The function timeout the poller enforces; the queue's visibility is two of them (+ the window). */
  functionTimeoutSeconds: number;
  batchingWindowSeconds?: number;
  maxConcurrency?: number;
  batchSize?: number;
  /** Extra worker environment (HIGHLEVEL_TIMEOUT_MS, WORKER_CONCURRENCY, …). */
  workerEnv?: Record<string, string>;
  /** Called after each invocation (benchmarks measure time per batch). */
  onBatch?: PollerOptions["onBatch"];
  /** Use queues on an SQS endpoint that is already running (benchmarks) instead of starting one. */
  external?: {
    endpoint: string;
    queues: PipelineQueues;
    /** A coordination table already running (one per fleet: every worker process shares it). */
    coordination?: { endpoint: string; tableName: string };
    /** The report bucket on the SQS endpoint (fauxqs serves S3 too); none → no results written. */
    reportBucket?: string;
    /** Reach the report bucket here instead of the SQS endpoint (a benchmark's slower S3). */
    s3Endpoint?: string;
  };
  /** Pace with this process's memory alone instead of the coordination table (comparisons). */
  perContainerPacing?: boolean;
  /** Told (warn) once when the coordination table fails and pacing falls back to this process. */
  budgetLog?: WorkerLog;
  /** Tokens from a file instead of `token` (any secret shape; an OAuth set is kept fresh). */
  tokenFile?: { path: string } & Omit<TokenFileOptions, "baseUrl">;
}

export interface QueueDepth {
  visible: number;
  inFlight: number;
  delayed: number;
  deadLetters: number;
}

/**
 * The deployed pipeline on this machine: fauxqs queues created with the stack's settings, the
 * real delete-csv handler, and a poller that drives it like Lambda's SQS event source.
 */
export async function startLocalPipeline(options: LocalPipelineOptions) {
  const batchingWindowSeconds =
    options.batchingWindowSeconds ?? PIPELINE_DEFAULTS.maxBatchingWindowSeconds;
  const sqs: Pick<EmbeddedSqs, "endpoint" | "client" | "stop"> = options.external
    ? externalSqs(options.external.endpoint)
    : await startEmbeddedSqs(options.dataDir ? { dataDir: options.dataDir } : {});
  const queues: PipelineQueues =
    options.external?.queues ??
    (await (sqs as EmbeddedSqs).createPipelineQueues(LOCAL_QUEUE_NAME, {
      maxReceiveCount: PIPELINE_DEFAULTS.maxReceiveCount,
      visibilityTimeoutSeconds: localVisibilityTimeoutSeconds(
        options.functionTimeoutSeconds,
        batchingWindowSeconds,
      ),
    }));
  const tally = new OutcomeTally();
  const embeddedTable =
    options.perContainerPacing || options.external?.coordination
      ? undefined
      : await startEmbeddedDynamoDb(
          options.dataDir ? { path: join(options.dataDir, "coordination") } : {},
        );
  const reportBucket = options.external
    ? options.external.reportBucket
    : await (sqs as EmbeddedSqs).createReportBucket();
  const s3Endpoint = options.external?.s3Endpoint ?? sqs.endpoint;
  const s3 = reportBucket ? createLocalS3Client(s3Endpoint) : undefined;
  // An invocation stopped at its timeout sends no message and writes no result afterwards, as
  // after Lambda's kill. The table's client is left as it is: the pacer it serves is shared by
  // every invocation of this process (a Lambda container runs one at a time).
  sqs.client.middlewareStack.add(refuseStoppedInvocations, REFUSE_STOPPED_INVOCATIONS);
  s3?.middlewareStack.add(refuseStoppedInvocations, REFUSE_STOPPED_INVOCATIONS);
  const coordination = options.perContainerPacing
    ? undefined
    : (options.external?.coordination ?? embeddedTable);
  const dynamoDb = coordination && createLocalDynamoDbClient(coordination.endpoint);
  // Built as the deployed worker builds it, with the embedded table's client.
  const pacer = createPacer(
    { coordinationTable: coordination?.tableName, dynamoDbEndpoint: coordination?.endpoint },
    options.budgetLog,
    dynamoDb && (async () => dynamoDb),
  );
  const tokenFile =
    options.tokenFile &&
    useTokenFile(options.tokenFile.path, {
      ...options.tokenFile,
      baseUrl: options.highLevelBaseUrl,
    });
  // On stop (Ctrl-C), jobs still waiting for a slot go back on the queue; calls in flight finish.
  const stopping = new AbortController();
  const handler = createDeleteCsvHandler(
    {
      HIGHLEVEL_BASE_URL: options.highLevelBaseUrl,
      // With a token file the worker's token source comes from it (below).
      HIGHLEVEL_TOKEN: options.token || "from-token-file",
      QUEUE_URL: queues.queueUrl,
      DEAD_LETTER_QUEUE_URL: queues.deadLetterQueueUrl,
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      MAX_RECEIVE_COUNT: String(PIPELINE_DEFAULTS.maxReceiveCount),
      HIGHLEVEL_MAX_ATTEMPTS: String(PIPELINE_DEFAULTS.highLevelMaxAttempts),
      WORKER_CONCURRENCY: String(PIPELINE_DEFAULTS.workerConcurrency),
      MAX_DEFERRALS: String(PIPELINE_DEFAULTS.maxDeferrals),
      ...(coordination && {
        COORDINATION_TABLE: coordination.tableName,
        AWS_ENDPOINT_URL_DYNAMODB: coordination.endpoint,
      }),
      ...(reportBucket && { REPORT_BUCKET: reportBucket, AWS_ENDPOINT_URL_S3: s3Endpoint }),
      ...options.workerEnv,
    },
    {
      sqs: sqs.client,
      pacer,
      ...(dynamoDb && { dynamoDb: async () => dynamoDb }),
      ...(s3 && { s3: async () => s3 }),
      onSettled: tally.record,
      stopping: stopping.signal,
      fetch: fetchUnlessStopped,
      ...(tokenFile && { tokens: tokenFile.tokens }),
    },
  );
  const poller = new EventSourcePoller({
    client: sqs.client,
    queueUrl: queues.queueUrl,
    queueArn: queues.queueArn,
    handler,
    batchSize: options.batchSize ?? PIPELINE_DEFAULTS.batchSize,
    batchingWindowMs: batchingWindowSeconds * 1000,
    maxConcurrency: options.maxConcurrency ?? PIPELINE_DEFAULTS.maxConcurrency,
    functionTimeoutMs: options.functionTimeoutSeconds * 1000,
    onStop: () => stopping.abort(),
    ...(options.onBatch && { onBatch: options.onBatch }),
  });

  const depth = async (): Promise<QueueDepth> => {
    const read = async (queueUrl: string) =>
      (
        await sqs.client.send(
          new GetQueueAttributesCommand({
            QueueUrl: queueUrl,
            AttributeNames: [
              "ApproximateNumberOfMessages",
              "ApproximateNumberOfMessagesNotVisible",
              "ApproximateNumberOfMessagesDelayed",
            ],
          }),
        )
      ).Attributes ?? {};
    const [source, dead] = await Promise.all([
      read(queues.queueUrl),
      read(queues.deadLetterQueueUrl),
    ]);
    return {
      visible: Number(source.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(source.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(source.ApproximateNumberOfMessagesDelayed ?? 0),
      deadLetters:
        Number(dead.ApproximateNumberOfMessages ?? 0) +
        Number(dead.ApproximateNumberOfMessagesNotVisible ?? 0),
    };
  };

  /** Sends raw bodies (the demo sends some invalid ones on purpose), 10 per request. */
  const sendBodies = async (bodies: string[]) => {
    for (let i = 0; i < bodies.length; i += 10) {
      const chunk = bodies.slice(i, i + 10);
      const response = await sqs.client.send(
        new SendMessageBatchCommand({
          QueueUrl: queues.queueUrl,
          Entries: chunk.map((body, index) => ({ Id: String(index), MessageBody: body })),
        }),
      );
      if ((response.Failed ?? []).length > 0) {
        throw new Error(`the embedded queue refused ${response.Failed?.length} messages`);
      }
    }
  };

  /** Resolves once the source queue is empty and no batch is in flight (checked twice). */
  const waitUntilDrained = async (
    signal: AbortSignal,
    onTick?: (depth: QueueDepth) => void,
  ): Promise<boolean> => {
    let emptyReadings = 0;
    while (!signal.aborted) {
      const current = await depth();
      onTick?.(current);
      const empty =
        current.visible + current.inFlight + current.delayed === 0 && poller.inFlight === 0;
      emptyReadings = empty ? emptyReadings + 1 : 0;
      if (emptyReadings >= 2) return true;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return false;
  };

  return {
    sqs,
    queues,
    /** Where run records and results are: for `runs`, `report` and the library's readers. */
    runs: {
      ...(coordination && { coordination }),
      ...(reportBucket && { reportBucket }),
      dynamoDb,
      s3,
    },
    tally,
    pacer,
    handler,
    poller,
    depth,
    sendBodies,
    waitUntilDrained,
    tokenFile,
    stop: async () => {
      await poller.stop();
      await tokenFile?.stop();
      await sqs.stop();
      dynamoDb?.destroy();
      s3?.destroy();
      await embeddedTable?.stop();
    },
  };
}

export type LocalPipeline = Awaited<ReturnType<typeof startLocalPipeline>>;

function externalSqs(endpoint: string) {
  const client = createLocalSqsClient(endpoint);
  return { endpoint, client, stop: async () => client.destroy() };
}
