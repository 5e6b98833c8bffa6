import { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { PlannerConfig, WorkerConfig } from "./config.ts";
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
  return { sqs, tokens, client, pacer };
}
