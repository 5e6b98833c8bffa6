import { Duration } from "aws-cdk-lib";
import type { IEventBus } from "aws-cdk-lib/aws-events";
import { EventBus } from "aws-cdk-lib/aws-events";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Topic } from "aws-cdk-lib/aws-sns";
import type { Construct } from "constructs";
import type { CsvDeletionPipelineProps } from "./pipeline-props.ts";

/** The CDK context keys the standalone app reads (`npx cdk deploy -c key=value`). */
export const CONTEXT_KEYS = [
  "stackName",
  "maxReceiveCount",
  "functionTimeoutSeconds",
  "functionMemoryMiB",
  "batchSize",
  "maxBatchingWindowSeconds",
  "maxConcurrency",
  "workerConcurrency",
  "highLevelMaxAttempts",
  "highLevelTimeoutMs",
  "maxDeferrals",
  "highLevelBaseUrl",
  "visibilityTimeoutSeconds",
  "tokenSecretArn",
  "eventBusName",
  "eventSources",
  "detailType",
  "alarmTopicArn",
  "oldestMessageAgeAlarmSeconds",
  "logRetentionDays",
  "reportRetentionDays",
  "purgeSchedules",
  "tokenRefresher",
  "dashboard",
  "logLevel",
] as const;

type ContextKey = (typeof CONTEXT_KEYS)[number];

/**
 * Reads the pipeline's props from CDK context. Values given with `-c` arrive as strings;
 * values from cdk.json may be numbers or arrays.
 */
export function pipelinePropsFromContext(scope: Construct): CsvDeletionPipelineProps {
  const read = (key: ContextKey): unknown => scope.node.tryGetContext(key);
  const number = (key: ContextKey): number | undefined => {
    const raw = read(key);
    if (raw === undefined || raw === null || raw === "") return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value)) {
      throw new Error(`context ${key} must be a number, got "${String(raw)}"`);
    }
    return value;
  };
  const text = (key: ContextKey): string | undefined => {
    const raw = read(key);
    return raw === undefined || raw === null || raw === "" ? undefined : String(raw);
  };
  const list = (key: ContextKey): string[] | undefined => {
    const raw = read(key);
    if (raw === undefined || raw === null || raw === "") return undefined;
    return Array.isArray(raw)
      ? raw.map(String)
      : String(raw)
          .split(",")
          .map((s) => s.trim());
  };
  const seconds = (key: ContextKey) => {
    const value = number(key);
    return value === undefined ? undefined : Duration.seconds(value);
  };

  const props: CsvDeletionPipelineProps = {};
  const assign = <K extends keyof CsvDeletionPipelineProps>(
    key: K,
    value: CsvDeletionPipelineProps[K] | undefined,
  ) => {
    if (value !== undefined) props[key] = value;
  };
  assign("maxReceiveCount", number("maxReceiveCount"));
  assign("functionTimeout", seconds("functionTimeoutSeconds"));
  assign("functionMemoryMiB", number("functionMemoryMiB"));
  assign("batchSize", number("batchSize"));
  assign("maxBatchingWindow", seconds("maxBatchingWindowSeconds"));
  assign("maxConcurrency", number("maxConcurrency"));
  assign("workerConcurrency", number("workerConcurrency"));
  assign("highLevelMaxAttempts", number("highLevelMaxAttempts"));
  assign("highLevelTimeoutMs", number("highLevelTimeoutMs"));
  assign("maxDeferrals", number("maxDeferrals"));
  assign("highLevelBaseUrl", text("highLevelBaseUrl"));
  assign("visibilityTimeout", seconds("visibilityTimeoutSeconds"));
  assign("eventSources", list("eventSources"));
  assign("detailType", text("detailType"));
  assign("oldestMessageAgeAlarm", seconds("oldestMessageAgeAlarmSeconds"));
  const secretArn = text("tokenSecretArn");
  if (secretArn)
    assign("tokenSecret", Secret.fromSecretCompleteArn(scope, "ImportedTokenSecret", secretArn));
  const busName = text("eventBusName");
  if (busName)
    assign("eventBus", EventBus.fromEventBusName(scope, "ImportedEventBus", busName) as IEventBus);
  const topicArn = text("alarmTopicArn");
  if (topicArn) assign("alarmTopic", Topic.fromTopicArn(scope, "ImportedAlarmTopic", topicArn));
  const reportDays = number("reportRetentionDays");
  if (reportDays !== undefined) assign("reportRetention", Duration.days(reportDays));
  const retention = number("logRetentionDays");
  if (retention !== undefined) {
    if (!Object.values(RetentionDays).includes(retention as RetentionDays)) {
      throw new Error(
        `context logRetentionDays must be one of CloudWatch's values (1, 3, 5, 7, 14, 30, 60, 90, …), got ${retention}`,
      );
    }
    assign("logRetention", retention as RetentionDays);
  }
  for (const key of ["tokenRefresher", "dashboard"] as const) {
    const value = read(key);
    if (value === undefined) continue;
    if (![true, false, "true", "false"].includes(value as string | boolean)) {
      throw new Error(`context ${key} must be true or false, got ${String(value)}`);
    }
    assign(key, value === true || value === "true");
  }
  const logLevel = text("logLevel");
  if (logLevel !== undefined) {
    if (!["DEBUG", "INFO", "WARN", "ERROR"].includes(logLevel)) {
      throw new Error(`context logLevel must be DEBUG, INFO, WARN or ERROR, got ${logLevel}`);
    }
    assign("logLevel", logLevel as CsvDeletionPipelineProps["logLevel"]);
  }
  const schedules = read("purgeSchedules");
  if (schedules !== undefined && schedules !== null && schedules !== "") {
    let parsed: unknown = schedules;
    if (typeof schedules === "string") {
      try {
        parsed = JSON.parse(schedules);
      } catch {
        throw new Error("context purgeSchedules must be a JSON list of {name, schedule, policy}");
      }
    }
    if (!Array.isArray(parsed)) {
      throw new Error("context purgeSchedules must be a JSON list of {name, schedule, policy}");
    }
    assign("purgeSchedules", parsed as CsvDeletionPipelineProps["purgeSchedules"]);
  }
  return props;
}
