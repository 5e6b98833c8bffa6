import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { loadWorkerConfig } from "../core/config.ts";
import { BatchMetrics, logger, metrics } from "../core/observability.ts";
import {
  recordBatchResults,
  type SendSettlements,
  type SettledMessage,
} from "../core/worker/batch-results.ts";
import { createBatchSettler } from "../core/worker/deletion-worker.ts";
import { readSettlement, sendSettlements } from "../core/worker/settlement.ts";
import {
  createRunRecorder,
  createWorkerDeps,
  type RuntimeOverrides,
} from "../core/worker/worker-runtime.ts";
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
  const sendBack: SendSettlements = async (items, deadline) =>
    sendSettlements(await deps.sqs(), config.queueUrl, items, {
      abortSignal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
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
    const settled: SettledMessage[] = [];
    let calls = 0;
    const handleRecord = async (record: SQSRecord) => {
      const message = toQueueMessage(record);
      const { messageId, receiveCount, body, originId } = message;
      const carried = { messageId, receiveCount, body, ...(originId && { originId }) };
      // A job settled earlier whose row or count its run still lacks: stored, nobody called.
      const settlement = runs.enabled ? readSettlement(record.messageAttributes) : undefined;
      if (settlement) {
        settled.push({ ...carried, entry: settlement.entry, settlement });
        outcomes.settlement = (outcomes.settlement ?? 0) + 1;
        return;
      }
      const result = await settle(message);
      if (result.run && !result.runRecorded) {
        settled.push({
          ...carried,
          entry: result.run,
          // Gone from the queue already (parked, or a copy removed at once): it cannot come back.
          ...((result.outcome === "dead-lettered" || result.outcome === "duplicate-removed") && {
            parked: true,
          }),
          ...(result.runMissing && { parts: result.runMissing }),
        });
      }
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
    // The results and run counts of this batch, before Lambda's answer deletes its messages.
    const {
      report: recorded,
      comeBack,
      resent,
      held,
    } = await recordBatchResults(runs, settled, {
      remainingMs: context.getRemainingTimeInMillis(),
      maxReceiveCount: config.maxReceiveCount,
      send: sendBack,
    });
    counts.recordResults(recorded, resent);
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
      ...(resent > 0 && { resultsSentBackAsSettlements: resent }),
      ...(comeBack.length > 0 && { resultsNotStoredComeBack: comeBack.length }),
      ...(held > 0 && { resultsHeldOnLastReceive: held }),
      durationMs: Date.now() - started,
    });
    // A new answer: Powertools shares one empty response object between invocations.
    return {
      batchItemFailures: [
        ...response.batchItemFailures,
        ...comeBack.map((messageId) => ({ itemIdentifier: messageId })),
      ],
    };
  };

  return middy(processBatch)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}
