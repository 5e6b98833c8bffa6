/** `ghl-csv-purge/cdk`: the construct to deploy the pipeline from your own CDK app. */
export { CoordinationTable } from "./coordination-table.ts";
export {
  CsvDeletionPipeline,
  type CsvDeletionPipelineProps,
  type PurgeScheduleProps,
} from "./csv-deletion-pipeline.ts";
export { DeletionEvents, type DeletionEventsProps } from "./deletion-events.ts";
export { DeletionWorker, type DeletionWorkerProps } from "./deletion-worker.ts";
export { JobQueues } from "./job-queues.ts";
export { PipelineMonitoring, type PipelineMonitoringProps } from "./pipeline-monitoring.ts";
export { PurgeSchedules, type PurgeSchedulesProps } from "./purge-schedules.ts";
export { ReportBucket, type ReportBucketProps } from "./report-bucket.ts";
export { PIPELINE_DEFAULTS } from "./settings.ts";
export { TokenRefresher, type TokenRefresherProps } from "./token-refresher.ts";
