import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import type { CoordinationTable } from "./coordination-table.ts";
import type { ResolvedSettings } from "./pipeline-props.ts";

/** What the worker and the planner both need to find. */
export interface PipelineParts {
  queue: IQueue;
  tokenSecret: ISecret;
  coordination: CoordinationTable;
}

/** The variables both Lambdas read (functions/core/config.ts, loadPlannerConfig). */
export function highLevelEnvironment(
  parts: PipelineParts,
  settings: ResolvedSettings,
): Record<string, string> {
  return {
    QUEUE_URL: parts.queue.queueUrl,
    HIGHLEVEL_TOKEN_SECRET_ARN: parts.tokenSecret.secretArn,
    HIGHLEVEL_BASE_URL: settings.highLevelBaseUrl,
    HIGHLEVEL_MAX_ATTEMPTS: String(settings.highLevelMaxAttempts),
    HIGHLEVEL_TIMEOUT_MS: String(settings.highLevelTimeoutMs),
    COORDINATION_TABLE: parts.coordination.table.tableName,
    REPORT_RETENTION_DAYS: String(settings.reportRetention.toDays()),
    NODE_OPTIONS: "--enable-source-maps",
  };
}
