import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { METRIC, METRIC_NAMESPACE, METRIC_SERVICE } from "./metric-names.ts";
import type { FlushReport } from "./runs/run-recorder.ts";
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

/**
 * A batch's counts, added to the metrics once per invocation: EMF then carries one value per
 * metric per batch instead of one per job or call, which keeps the metric lines (billed as
 * logs) small.
 */
export class BatchMetrics {
  readonly #counts = new Map<string, number>();
  readonly #deadByReason = new Map<string, number>();

  /** Counts a settled job: one metric per outcome, and dead letters again by reason. */
  recordJob(result: JobResult): void {
    this.#add(OUTCOME_METRICS[result.outcome]);
    if (result.duplicate) this.#add(METRIC.duplicateInBatch);
    if (result.tokenExpired) this.#add(METRIC.tokenExpired);
    if (result.outcome === "dead-lettered" && result.reason) {
      this.#deadByReason.set(result.reason, (this.#deadByReason.get(result.reason) ?? 0) + 1);
    }
  }

  /** Counts an answer from HighLevel, and 429s apart (the stack alarms on their share). */
  recordAnswer(status: number): void {
    this.#add(METRIC.highLevelCalls);
    if (status === 429) this.#add(METRIC.highLevelThrottled);
  }

  /** Counts the results and run counts a batch could not write (the gap, and what waits). */
  recordResults(flush: FlushReport, sentBack = 0): void {
    if (flush.linesDropped) this.#add(METRIC.resultsMissing, flush.linesDropped);
    if (sentBack) this.#add(METRIC.resultsSentBack, sentBack);
    if (flush.linesHeld + flush.countsHeld) {
      this.#add(METRIC.runRecordsHeld, flush.linesHeld + flush.countsHeld);
    }
  }

  recordRetry(): void {
    this.#add(METRIC.highLevelRetries);
  }

  /** Adds what was counted since the last flush to the metrics the invocation publishes. */
  flush(): void {
    for (const [name, count] of this.#counts) metrics.addMetric(name, MetricUnit.Count, count);
    for (const [reason, count] of this.#deadByReason) {
      const byReason = metrics.singleMetric();
      byReason.addDimension("FailureReason", reason);
      byReason.addMetric(METRIC.deadLettered, MetricUnit.Count, count);
    }
    this.#counts.clear();
    this.#deadByReason.clear();
  }

  #add(name: string, count = 1): void {
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + count);
  }
}
