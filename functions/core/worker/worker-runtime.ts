import type { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { PlannerConfig, WorkerConfig } from "../config.ts";
import { createHighLevelClient } from "../highlevel/highlevel-client.ts";
import { RatePacer } from "../highlevel/rate-pacer.ts";
import {
  fixedTokenSource,
  secretTokenSource,
  type TokenSource,
} from "../highlevel/token-source.ts";
import type { WorkerDeps, WorkerLog } from "./deletion-worker.ts";

/**
 * An AWS endpoint that accepts connections and never answers must not hold an invocation: each
 * try gives up after these, and every call is also aborted at the invocation's deadline.
 */
export const AWS_REQUEST_TIMEOUTS = { connectionTimeout: 1_000, requestTimeout: 3_000 } as const;

export interface RuntimeOverrides {
  sqs?: SQSClient;
  secrets?: SecretsProvider;
  tokens?: TokenSource;
  pacer?: RatePacer;
  log: WorkerLog;
  onRetry?: () => void;
  onSettled?: WorkerDeps["onSettled"];
}

/**
 * Builds, once per container, everything the worker needs from its configuration: the SQS
 * client, the token source, the rate pacer (shared by every invocation of the container) and
 * the HighLevel client.
 */
export function createWorkerDeps(config: WorkerConfig, overrides: RuntimeOverrides): WorkerDeps {
  const { sqs, tokens, client } = createHighLevelRuntime(config, overrides);
  return {
    config,
    client,
    tokens,
    sqs,
    log: overrides.log,
    ...(overrides.onSettled && { onSettled: overrides.onSettled }),
  };
}

/** The clients both Lambdas need: SQS, the token source and the paced HighLevel client. */
export function createHighLevelRuntime(
  config: PlannerConfig,
  overrides: Omit<RuntimeOverrides, "log" | "onSettled">,
) {
  const pacer = overrides.pacer ?? new RatePacer();
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
      : secretTokenSource(secrets, config.token.secretArn));
  const client = createHighLevelClient({
    baseUrl: config.highLevelBaseUrl,
    apiVersion: config.highLevelApiVersion,
    timeoutMs: config.requestTimeoutMs,
    maxAttempts: config.maxAttempts,
    pacer,
    ...(overrides.onRetry && { onRetry: overrides.onRetry }),
  });
  return { sqs, tokens, client, pacer };
}

function once<T>(create: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= create();
    return value;
  };
}
