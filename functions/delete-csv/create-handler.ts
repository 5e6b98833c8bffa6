import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { loadWorkerConfig } from "../core/config.ts";
import { logger, metrics, recordJobMetrics, recordRetry } from "../core/observability.ts";
import { createBatchSettler } from "../core/worker/deletion-worker.ts";
import { createWorkerDeps, type RuntimeOverrides } from "../core/worker/worker-runtime.ts";
import { toQueueMessage } from "./sqs-record.ts";

class RedeliveryRequested extends Error {
  override name = "RedeliveryRequested";
}

/**
 * Builds the SQS consumer from the environment. Configuration is read and checked here, once,
 * so a bad variable fails the cold start instead of every job.
 */
export function createDeleteCsvHandler(
  env: Record<string, string | undefined>,
  overrides: Partial<RuntimeOverrides> = {},
) {
  const deps = createWorkerDeps(loadWorkerConfig(env), {
    log: logger,
    onRetry: recordRetry,
    onSettled: recordJobMetrics,
    ...overrides,
  });
  const processBatch = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const settle = createBatchSettler(deps, () => context.getRemainingTimeInMillis());
    // One processor per invocation: it holds the batch's state, and the local poller runs
    // several invocations of this handler at once in one process.
    const processor = new BatchProcessor(EventType.SQS);
    const handleRecord = async (record: SQSRecord) => {
      const result = await settle(toQueueMessage(record));
      if (result.outcome === "redelivered" || result.outcome === "handed-back") {
        throw new RedeliveryRequested(record.messageId);
      }
    };
    return processPartialResponse(event, handleRecord, processor, {
      context,
      processInParallel: true,
      throwOnFullBatchFailure: false,
    });
  };

  return middy(processBatch)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}
