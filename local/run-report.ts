import {
  type DeadLetterSummary,
  inspectDeadLetters,
} from "../functions/core/operations/dead-letter-inspection.ts";
import type { LocalPipeline } from "./local-pipeline.ts";

export interface RunReport {
  /** Jobs this run put on the queue, plus those it found waiting from an earlier run. */
  jobsIn: number;
  deleted: number;
  alreadyAbsent: number;
  /** Jobs dead-lettered during this run (by the worker, or by SQS's redrive), each once. */
  deadLettered: number;
  /** Second dead letters of one delivery (`DeadLetterSummary.repeats`): not another job. */
  deadLetterRepeats: number;
  deadLetters: DeadLetterSummary;
  deferrals: number;
  redeliveries: number;
  duplicatesInBatch: number;
  /** Copies of a job whose first copy in the same batch stayed on the queue or was parked. */
  duplicatesRemoved: number;
  highLevelCalls: number;
  durationMs: number;
  deletionsPerSecond: number;
  /** Every job that came in ended as deleted, already absent, a dead letter or a removed copy. */
  reconciled: boolean;
  /** Jobs still on the queue (an interrupted run). */
  remaining: number;
}

export interface RunStart {
  startedAt: number;
  enqueued: number;
  pendingAtStart: number;
  deadLettersAtStart: number;
}

/** Reads the queues and the tally into the run's summary, and checks that nothing vanished. */
export async function buildRunReport(pipeline: LocalPipeline, start: RunStart): Promise<RunReport> {
  const { tally } = pipeline;
  const depth = await pipeline.depth();
  const deadLetters = await inspectDeadLetters(
    pipeline.sqs.client,
    pipeline.queues.deadLetterQueueUrl,
  );
  const durationMs = Date.now() - start.startedAt;
  // From the queue's counts, which include dead letters another reader holds in flight; a
  // delivery parked twice is one job.
  const deadLettered = Math.max(
    0,
    depth.deadLetters - start.deadLettersAtStart - deadLetters.repeats,
  );
  const remaining = depth.visible + depth.inFlight + depth.delayed;
  const jobsIn = start.enqueued + start.pendingAtStart;
  return {
    jobsIn,
    deleted: tally.deleted,
    alreadyAbsent: tally.alreadyAbsent,
    deadLettered,
    deadLetterRepeats: deadLetters.repeats,
    deadLetters,
    deferrals: tally.deferred,
    redeliveries: tally.redelivered,
    duplicatesInBatch: tally.duplicates,
    duplicatesRemoved: tally.duplicatesRemoved,
    highLevelCalls: tally.calls,
    durationMs,
    deletionsPerSecond: tally.deleted / Math.max(0.001, durationMs / 1000),
    reconciled:
      tally.deleted + tally.alreadyAbsent + deadLettered + tally.duplicatesRemoved + remaining ===
      jobsIn,
    remaining,
  };
}
