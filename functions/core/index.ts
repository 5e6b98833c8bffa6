/** The library surface of ghl-csv-purge: build and send deletion jobs from your own code. */

export { type DeadLetterSummary, inspectDeadLetters } from "./operations/dead-letter-inspection.ts";
export {
  type RedriveOptions,
  type RedriveReport,
  redriveDeadLetters,
} from "./operations/dead-letter-redrive.ts";
export {
  type DeletionJob,
  DeletionJobSchema,
  jobKey,
  parseDeletionJob,
  validateDeletionJob,
} from "./producers/deletion-job.ts";
export {
  type EnqueueOptions,
  type EnqueueReport,
  type EnqueueResult,
  EnqueueStoppedError,
  enqueueDeletions,
  sendDeletionJobs,
} from "./producers/enqueue.ts";
export { type PurgePolicy, parsePurgePolicy } from "./producers/purge-policy.ts";
export type { ResultLine } from "./runs/result-line.ts";
export type { RunCounts, RunState } from "./runs/run-record.ts";
export type { ReportSummary } from "./runs/run-report.ts";
export {
  type CoordinationTableRef,
  getRun,
  listRuns,
  type ReportBucketRef,
  type RunView,
  readRunReport,
} from "./runs/runs-api.ts";
