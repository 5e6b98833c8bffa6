import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { METRIC, METRIC_NAMESPACE, METRIC_SERVICE } from "./metric-names.ts";
import type { JobResult } from "./worker/deletion-worker.ts";

export const SERVICE_NAME = METRIC_SERVICE;

/** The one logger of the worker: JSON lines; level from POWERTOOLS_LOG_LEVEL (default INFO). */
export const logger = new Logger({ serviceName: SERVICE_NAME });

/** The one metrics emitter (CloudWatch EMF); namespace from POWERTOOLS_METRICS_NAMESPACE. */
export const metrics = new Metrics({
  serviceName: SERVICE_NAME,
  // Its own warnings (e.g. "no metrics to publish") go through the logger and its level.
  logger,
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRIC_NAMESPACE,
});

const OUTCOME_METRICS = {
  deleted: METRIC.deleted,
  "already-absent": METRIC.alreadyAbsent,
  "dead-lettered": METRIC.deadLettered,
  deferred: METRIC.deferred,
  redelivered: METRIC.redelivered,
  "duplicate-removed": METRIC.duplicateRemoved,
  "handed-back": METRIC.handedBack,
} as const;

/** Counts a settled job: one metric per outcome, and dead letters again by reason. */
export function recordJobMetrics(result: JobResult): void {
  metrics.addMetric(OUTCOME_METRICS[result.outcome], MetricUnit.Count, 1);
  if (result.duplicate) {
    metrics.addMetric(METRIC.duplicateInBatch, MetricUnit.Count, 1);
  }
  if (result.tokenExpired) {
    metrics.addMetric(METRIC.tokenExpired, MetricUnit.Count, 1);
  }
  if (result.outcome === "dead-lettered" && result.reason) {
    const byReason = metrics.singleMetric();
    byReason.addDimension("FailureReason", result.reason);
    byReason.addMetric(METRIC.deadLettered, MetricUnit.Count, 1);
  }
}

/** Counts an answer from HighLevel, and 429s apart (the stack alarms on their share). */
export function recordAnswer(status: number): void {
  metrics.addMetric(METRIC.highLevelCalls, MetricUnit.Count, 1);
  if (status === 429) metrics.addMetric(METRIC.highLevelThrottled, MetricUnit.Count, 1);
}

/** Counts a retry of a transient HighLevel failure. */
export function recordRetry(): void {
  metrics.addMetric(METRIC.highLevelRetries, MetricUnit.Count, 1);
}
