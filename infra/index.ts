/** `ghl-csv-purge/cdk`: the construct to deploy the pipeline from your own CDK app. */
export { CoordinationTable } from "./coordination-table.ts";
export {
  CsvDeletionPipeline,
  type CsvDeletionPipelineProps,
  type PurgeScheduleProps,
} from "./csv-deletion-pipeline.ts";
export { PIPELINE_DEFAULTS } from "./settings.ts";
export { TokenRefresher, type TokenRefresherProps } from "./token-refresher.ts";
