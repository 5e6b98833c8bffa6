import { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { WorkerConfig } from "./config.ts";
import type { WorkerDeps, WorkerLog } from "./deletion-worker.ts";
import { createHighLevelClient } from "./highlevel-client.ts";
import { RatePacer } from "./rate-pacer.ts";
import { fixedTokenSource, secretTokenSource, type TokenSource } from "./token-source.ts";

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
  const pacer = overrides.pacer ?? new RatePacer();
  const sqs =
    overrides.sqs ??
    new SQSClient({
      ...(config.sqsEndpoint && { endpoint: config.sqsEndpoint, useQueueUrlAsEndpoint: false }),
    });
  const tokens =
    overrides.tokens ??
    (config.token.source === "env"
      ? fixedTokenSource(config.token.token)
      : secretTokenSource(overrides.secrets ?? new SecretsProvider(), config.token.secretArn));
  const client = createHighLevelClient({
    baseUrl: config.highLevelBaseUrl,
    apiVersion: config.highLevelApiVersion,
    timeoutMs: config.requestTimeoutMs,
    maxAttempts: config.maxAttempts,
    pacer,
    ...(overrides.onRetry && { onRetry: overrides.onRetry }),
  });
  return {
    config,
    client,
    tokens,
    sqs,
    log: overrides.log,
    ...(overrides.onSettled && { onSettled: overrides.onSettled }),
  };
}
