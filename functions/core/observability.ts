import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { JobResult } from "./worker/deletion-worker.ts";

export const SERVICE_NAME = "ghl-csv-purge";

/** The one logger of the worker: JSON lines; level from POWERTOOLS_LOG_LEVEL (default INFO). */
export const logger = new Logger({ serviceName: SERVICE_NAME });

/** The one metrics emitter (CloudWatch EMF); namespace from POWERTOOLS_METRICS_NAMESPACE. */
export const metrics = new Metrics({
  serviceName: SERVICE_NAME,
  // Its own warnings (e.g. "no metrics to publish") go through the logger and its level.
  logger,
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "GhlCsvPurge",
});

const OUTCOME_METRICS = {
  deleted: "Deleted",
  "already-absent": "AlreadyAbsent",
  "dead-lettered": "DeadLettered",
  deferred: "Deferred",
  redelivered: "Redelivered",
  "duplicate-removed": "DuplicateRemoved",
  "handed-back": "HandedBack",
} as const;

/** Counts a settled job: one metric per outcome, and dead letters again by reason. */
export function recordJobMetrics(result: JobResult): void {
  metrics.addMetric(OUTCOME_METRICS[result.outcome], MetricUnit.Count, 1);
  if (result.duplicate) {
    metrics.addMetric("DuplicateInBatch", MetricUnit.Count, 1);
  }
  if (result.tokenExpired) {
    metrics.addMetric("TokenExpired", MetricUnit.Count, 1);
  }
  if (result.outcome === "dead-lettered" && result.reason) {
    const byReason = metrics.singleMetric();
    byReason.addDimension("FailureReason", result.reason);
    byReason.addMetric("DeadLettered", MetricUnit.Count, 1);
  }
}

/** Counts a retry of a transient HighLevel failure. */
export function recordRetry(): void {
  metrics.addMetric("HighLevelRetries", MetricUnit.Count, 1);
}
