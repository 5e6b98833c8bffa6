import type { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { AWS_REQUEST_TIMEOUTS } from "../aws-timeouts.ts";
import type { PlannerConfig, WorkerConfig } from "../config.ts";
import { FleetBudget } from "../highlevel/fleet-budget.ts";
import { createHighLevelClient } from "../highlevel/highlevel-client.ts";
import { type Pacer, RatePacer } from "../highlevel/rate-pacer.ts";
import {
  fixedTokenSource,
  secretTokenSource,
  type TokenSource,
} from "../highlevel/token-source.ts";
import { createS3Client, ReportBucket } from "../runs/report-bucket.ts";
import { RunRecorder } from "../runs/run-recorder.ts";
import { RunTable } from "../runs/run-table.ts";
import type { WorkerDeps, WorkerLog } from "./deletion-worker.ts";

export interface RuntimeOverrides {
  sqs?: SQSClient;
  /** The coordination table's client (local runs: the embedded table with its credentials). */
  dynamoDb?: () => Promise<DynamoDBClient>;
  s3?: () => Promise<S3Client>;
  secrets?: SecretsProvider;
  tokens?: TokenSource;
  pacer?: Pacer;
  log: WorkerLog;
  onRetry?: () => void;
  onAnswer?: (status: number) => void;
  onSettled?: WorkerDeps["onSettled"];
  /** Aborted when the process is stopping (local runs): jobs waiting for a slot are handed back. */
  stopping?: AbortSignal;
  /** The container's run recorder (dead letters are recorded before they are parked). */
  runs?: WorkerDeps["runs"];
  /** HighLevel's calls go through this instead of the global fetch (local runs). */
  fetch?: typeof fetch;
}

/**
 * Builds, once per container, everything the worker needs from its configuration: the SQS
 * client, the token source, the rate pacer (shared by every invocation of the container) and
 * the HighLevel client.
 */
export function createWorkerDeps(config: WorkerConfig, overrides: RuntimeOverrides): WorkerDeps {
  const { sqs, tokens, client } = createHighLevelRuntime(config, overrides, {
    maxBudgetWaitMs: config.budgetWaitMs,
    maxInFlight: config.workerConcurrency,
  });
  return {
    config,
    client,
    tokens,
    sqs,
    log: overrides.log,
    ...(overrides.onSettled && { onSettled: overrides.onSettled }),
    ...(overrides.stopping && { stopping: overrides.stopping }),
    ...(overrides.runs && { runs: overrides.runs }),
  };
}

/**
 * Where a container records its runs' progress: the run records in the coordination table and
 * the results in the report bucket, each only when configured.
 */
export function createRunRecorder(
  config: Pick<
    WorkerConfig,
    | "coordinationTable"
    | "dynamoDbEndpoint"
    | "reportBucket"
    | "s3Endpoint"
    | "reportRetentionDays"
    | "runRecords"
  >,
  overrides: Pick<RuntimeOverrides, "dynamoDb" | "s3" | "log">,
): RunRecorder {
  if (!config.runRecords) return new RunRecorder({ log: overrides.log });
  const table = createRunTable(config, overrides);
  const bucket =
    config.reportBucket &&
    new ReportBucket(
      overrides.s3 ??
        once(() =>
          createS3Client(config.s3Endpoint, {
            requestHandler: AWS_REQUEST_TIMEOUTS,
            maxAttempts: 2,
          }),
        ),
      config.reportBucket,
    );
  return new RunRecorder({
    ...(table && { table }),
    ...(bucket && { bucket }),
    log: overrides.log,
  });
}

/** The run records of the coordination table, when there is one. */
export function createRunTable(
  config: Pick<PlannerConfig, "coordinationTable" | "dynamoDbEndpoint"> & {
    reportRetentionDays?: number;
  },
  overrides: Pick<RuntimeOverrides, "dynamoDb"> = {},
): RunTable | undefined {
  if (!config.coordinationTable) return undefined;
  return new RunTable(
    overrides.dynamoDb ?? once(() => dynamoDbClient(config.dynamoDbEndpoint)),
    config.coordinationTable,
    config.reportRetentionDays,
  );
}

/** The clients both Lambdas need: SQS, the token source and the paced HighLevel client. */
export function createHighLevelRuntime(
  config: PlannerConfig,
  overrides: Omit<RuntimeOverrides, "log" | "onSettled"> & { log?: WorkerLog },
  clientOptions: { maxBudgetWaitMs?: number; maxInFlight?: number } = {},
) {
  const pacer = overrides.pacer ?? createPacer(config, overrides.log, overrides.dynamoDb);
  // The AWS SDK clients are created on first use: importing them costs ~40 ms each at cold start.
  const sqs = once(async () => {
    if (overrides.sqs) return overrides.sqs;
    const { SQSClient } = await import("@aws-sdk/client-sqs");
    return new SQSClient({
      requestHandler: AWS_REQUEST_TIMEOUTS,
      ...(config.sqsEndpoint && { endpoint: config.sqsEndpoint, useQueueUrlAsEndpoint: false }),
    });
  });
  const secrets = once(async () => {
    if (overrides.secrets) return overrides.secrets;
    const { SecretsProvider } = await import("@aws-lambda-powertools/parameters/secrets");
    return new SecretsProvider({
      clientConfig: {
        requestHandler: AWS_REQUEST_TIMEOUTS,
        ...(config.secretsEndpoint && { endpoint: config.secretsEndpoint }),
      },
    });
  });
  const tokens =
    overrides.tokens ??
    (config.token.source === "env"
      ? fixedTokenSource(config.token.token)
      : secretTokenSource(secrets, config.token.secretArn, config.highLevelBaseUrl));
  const client = createHighLevelClient({
    baseUrl: config.highLevelBaseUrl,
    apiVersion: config.highLevelApiVersion,
    timeoutMs: config.requestTimeoutMs,
    maxAttempts: config.maxAttempts,
    pacer,
    ...clientOptions,
    ...(overrides.onRetry && { onRetry: overrides.onRetry }),
    ...(overrides.onAnswer && { onAnswer: overrides.onAnswer }),
    ...(overrides.fetch && { fetch: overrides.fetch }),
  });
  return { sqs, tokens, client, pacer };
}

/**
 * The fleet-wide budget when `COORDINATION_TABLE` is set, else a pacer of this container alone
 * (correct for one container only). `dynamoDb` replaces the client built from the environment
 * (the embedded table of local runs needs its own credentials).
 */
export function createPacer(
  config: Pick<PlannerConfig, "coordinationTable" | "dynamoDbEndpoint">,
  log: WorkerLog | undefined,
  dynamoDb?: () => Promise<DynamoDBClient>,
): Pacer {
  const local = new RatePacer();
  if (!config.coordinationTable) return local;
  const endpoint = config.dynamoDbEndpoint;
  return new FleetBudget({
    tableName: config.coordinationTable,
    fallback: local,
    client: dynamoDb ?? once(() => dynamoDbClient(endpoint)),
    onFallback: (error) =>
      log?.warn(
        "the coordination table cannot be reached: this container paces HighLevel calls alone for now",
        {
          error:
            error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : "unknown",
        },
      ),
  });
}

/** A DynamoDB client created on first use (the coordination table's). */
export function dynamoDbClientFor(endpoint: string | undefined): () => Promise<DynamoDBClient> {
  return once(() => dynamoDbClient(endpoint));
}

async function dynamoDbClient(endpoint: string | undefined): Promise<DynamoDBClient> {
  const { DynamoDBClient } = await import("@aws-sdk/client-dynamodb");
  return new DynamoDBClient({
    requestHandler: AWS_REQUEST_TIMEOUTS,
    maxAttempts: 2,
    ...(endpoint && { endpoint }),
  });
}

function once<T>(create: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= create();
    return value;
  };
}
