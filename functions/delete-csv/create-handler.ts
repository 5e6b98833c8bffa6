import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { loadWorkerConfig } from "../core/config.ts";
import { BatchMetrics, logger, metrics } from "../core/observability.ts";
import type { FlushReport, RunEntry } from "../core/runs/run-recorder.ts";
import { createBatchSettler } from "../core/worker/deletion-worker.ts";
import {
  createRunRecorder,
  createWorkerDeps,
  type RuntimeOverrides,
} from "../core/worker/worker-runtime.ts";
import { toQueueMessage } from "./sqs-record.ts";

/** The results write ends this long before the invocation's deadline. */
const FLUSH_MARGIN_MS = 100;

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
  // One per container: Lambda runs one invocation at a time in it, and each flushes its counts.
  const counts = new BatchMetrics();
  const config = loadWorkerConfig(env);
  const runs = createRunRecorder(config, { log: logger, ...overrides });
  const deps = createWorkerDeps(config, {
    ...(runs.enabled && { runs }),
    log: logger,
    onRetry: () => counts.recordRetry(),
    onAnswer: (status) => counts.recordAnswer(status),
    ...overrides,
    onSettled: (result) => {
      counts.recordJob(result);
      overrides.onSettled?.(result);
    },
  });
  const processBatch = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const settle = createBatchSettler(
      deps,
      () => context.getRemainingTimeInMillis(),
      event.Records,
    );
    // One processor per invocation: it holds the batch's state, and the local poller runs
    // several invocations of this handler at once in one process.
    const processor = new BatchProcessor(EventType.SQS);
    const started = Date.now();
    const outcomes: Record<string, number> = {};
    const settled: Array<[messageId: string, entry: RunEntry]> = [];
    let calls = 0;
    const handleRecord = async (record: SQSRecord) => {
      const result = await settle(toQueueMessage(record));
      if (result.run && !result.runRecorded) settled.push([record.messageId, result.run]);
      outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
      calls += result.calls;
      if (result.outcome === "redelivered" || result.outcome === "handed-back") {
        throw new RedeliveryRequested(record.messageId);
      }
    };
    const response = await processPartialResponse(event, handleRecord, processor, {
      context,
      processInParallel: true,
      throwOnFullBatchFailure: false,
    });
    // The results and run counts of this batch, before Lambda's answer; a failed write is
    // kept for the next batch and never changes a job's outcome. An invocation past its
    // deadline writes nothing: Lambda has failed it, its messages come back and are counted then.
    const remaining = context.getRemainingTimeInMillis();
    let recorded: FlushReport = {
      runs: 0,
      linesWritten: 0,
      linesHeld: 0,
      linesDropped: 0,
      countsHeld: 0,
    };
    if (remaining > FLUSH_MARGIN_MS) {
      for (const [messageId, entry] of settled) runs.add(messageId, entry);
      recorded = await runs.flush(Date.now() + remaining - FLUSH_MARGIN_MS);
    }
    counts.recordResults(recorded);
    counts.flush();
    // One line per batch: what happened to its jobs. Failing jobs have their own WARN lines.
    logger.info("batch settled", {
      jobs: event.Records.length,
      ...outcomes,
      highLevelCalls: calls,
      ...(recorded.runs > 0 && {
        runs: recorded.runs,
        resultsWritten: recorded.linesWritten,
        ...(recorded.linesHeld && { resultsHeld: recorded.linesHeld }),
        ...(recorded.linesDropped && { resultsDropped: recorded.linesDropped }),
      }),
      durationMs: Date.now() - started,
    });
    return response;
  };

  return middy(processBatch)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}
