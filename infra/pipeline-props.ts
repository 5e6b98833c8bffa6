import { Duration } from "aws-cdk-lib";
import type { IEventBus } from "aws-cdk-lib/aws-events";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import type { PurgePolicyInput } from "../functions/core/producers/purge-policy.ts";
import { minimumVisibilityTimeoutSeconds, PIPELINE_DEFAULTS } from "./settings.ts";

export const DEFAULT_DETAIL_TYPE = "CSV Deletion Requested";
export const DEFAULT_EVENT_SOURCE = "ghl-csv-purge";

/** Everything about the pipeline a user may change; every field has a production default. */
export interface CsvDeletionPipelineProps {
  /** Deliveries before SQS moves a job to the DLQ (also the worker's MAX_RECEIVE_COUNT). Default 5. */
  maxReceiveCount?: number;
  /** Worker timeout. Default 60 s. */
  functionTimeout?: Duration;
  /** Worker memory. Default 256 MiB. */
  functionMemoryMiB?: number;
  /** Messages per invocation. Default 200 (10 when `maxBatchingWindow` is 0). */
  batchSize?: number;
  /** How long the event source gathers a batch. Default 1 s. */
  maxBatchingWindow?: Duration;
  /** Concurrent invocations (2–1000): the knob that protects HighLevel's rate budget. Default 2. */
  maxConcurrency?: number;
  /**
   * HighLevel calls in flight at once in one container (WORKER_CONCURRENCY); jobs waiting for
   * their location's slot do not count. Default 100.
   */
  workerConcurrency?: number;
  /** Tries per job per invocation for 5xx/timeouts (HIGHLEVEL_MAX_ATTEMPTS). Default 3. */
  highLevelMaxAttempts?: number;
  /** Per-request timeout (HIGHLEVEL_TIMEOUT_MS). Default 10 000. */
  highLevelTimeoutMs?: number;
  /** Deferrals of a throttled job before it is dead-lettered (MAX_DEFERRALS). Default 100. */
  maxDeferrals?: number;
  /** HighLevel's API origin (HIGHLEVEL_BASE_URL). Default the production API. */
  highLevelBaseUrl?: string;
  /** Source queue visibility timeout. Default 6 × function timeout + batching window; must not be less. */
  visibilityTimeout?: Duration;
  /** Source queue retention; must be shorter than the DLQ's 14 days. Default 4 days. */
  sourceRetention?: Duration;
  /** The token secret: imported when given, else created with a placeholder value to replace. */
  tokenSecret?: ISecret;
  /** The bus whose `CSV Deletion Requested` events become jobs. Default the account's default bus. */
  eventBus?: IEventBus;
  /** Event sources the rule accepts. Default ["ghl-csv-purge"]. */
  eventSources?: string[];
  /** The rule's detail-type. Default "CSV Deletion Requested". */
  detailType?: string;
  /** Where alarms notify, if anywhere. */
  alarmTopic?: ITopic;
  /** Alarm when the oldest job has waited longer than this. Default 1 hour. */
  oldestMessageAgeAlarm?: Duration;
  /**
   * How long run results (`runs/` in the report bucket) and run records are kept. Whole days,
   * 1–3650. Default 90 days.
   */
  reportRetention?: Duration;
  /** Worker log retention. Default one month. */
  logRetention?: RetentionDays;
  /** Scheduled purges: each runs the purge planner with its own policy. Default none. */
  purgeSchedules?: PurgeScheduleProps[];
  /**
   * The hourly OAuth token refresher (it does nothing for Private Integration Tokens). Default
   * true; turn it off only when something else keeps an OAuth secret fresh.
   */
  tokenRefresher?: boolean;
  /** A CloudWatch dashboard of the pipeline (output `DashboardUrl` in the standalone stack). Default true. */
  dashboard?: boolean;
  /**
   * The functions' log level (POWERTOOLS_LOG_LEVEL). Default INFO: one line per batch, and one
   * per job that is dead-lettered, deferred or retried; 1% of invocations log at DEBUG.
   */
  logLevel?: "DEBUG" | "INFO" | "WARN" | "ERROR";
}

export interface PurgeScheduleProps {
  /** A short name, unique in the pipeline (letters, digits, '-'). */
  name: string;
  /** An EventBridge Scheduler expression: `rate(1 day)`, `cron(0 3 * * ? *)`. */
  schedule: string;
  /** IANA time zone of a cron expression. Default UTC. */
  timeZone?: string;
  policy: PurgePolicyInput;
}

/** The props with every default applied and checked. */
export interface ResolvedSettings {
  maxReceiveCount: number;
  functionTimeout: Duration;
  functionMemoryMiB: number;
  batchSize: number;
  maxBatchingWindow: Duration;
  maxConcurrency: number;
  workerConcurrency: number;
  highLevelMaxAttempts: number;
  highLevelTimeoutMs: number;
  maxDeferrals: number;
  highLevelBaseUrl: string;
  visibilityTimeout: Duration;
  sourceRetention: Duration;
  eventSources: string[];
  detailType: string;
  oldestMessageAgeAlarm: Duration;
  logRetention: RetentionDays;
  logLevel: "DEBUG" | "INFO" | "WARN" | "ERROR";
  reportRetention: Duration;
}

/** Applies defaults and refuses combinations that cannot work, with a message that says why. */
export function resolveSettings(props: CsvDeletionPipelineProps): ResolvedSettings {
  const d = PIPELINE_DEFAULTS;
  const functionTimeout = props.functionTimeout ?? Duration.seconds(d.functionTimeoutSeconds);
  const maxBatchingWindow = props.maxBatchingWindow ?? Duration.seconds(d.maxBatchingWindowSeconds);
  const minimumVisibility = minimumVisibilityTimeoutSeconds(
    functionTimeout.toSeconds(),
    maxBatchingWindow.toSeconds(),
  );
  const settings: ResolvedSettings = {
    maxReceiveCount: props.maxReceiveCount ?? d.maxReceiveCount,
    functionTimeout,
    functionMemoryMiB: props.functionMemoryMiB ?? d.functionMemoryMiB,
    // Without a batching window SQS allows 10 per batch: the default steps down to it.
    batchSize: props.batchSize ?? (maxBatchingWindow.toSeconds() === 0 ? 10 : d.batchSize),
    maxBatchingWindow,
    maxConcurrency: props.maxConcurrency ?? d.maxConcurrency,
    workerConcurrency: props.workerConcurrency ?? d.workerConcurrency,
    highLevelMaxAttempts: props.highLevelMaxAttempts ?? d.highLevelMaxAttempts,
    highLevelTimeoutMs: props.highLevelTimeoutMs ?? d.highLevelTimeoutMs,
    maxDeferrals: props.maxDeferrals ?? d.maxDeferrals,
    highLevelBaseUrl: props.highLevelBaseUrl ?? "https://services.leadconnectorhq.com",
    visibilityTimeout: props.visibilityTimeout ?? Duration.seconds(minimumVisibility),
    sourceRetention: props.sourceRetention ?? Duration.days(d.sourceRetentionDays),
    eventSources: props.eventSources ?? [DEFAULT_EVENT_SOURCE],
    detailType: props.detailType ?? DEFAULT_DETAIL_TYPE,
    oldestMessageAgeAlarm: props.oldestMessageAgeAlarm ?? Duration.hours(1),
    logRetention: props.logRetention ?? RetentionDays.ONE_MONTH,
    logLevel: props.logLevel ?? "INFO",
    reportRetention: props.reportRetention ?? Duration.days(d.reportRetentionDays),
  };
  const problems: string[] = [];
  const within = (name: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, got ${value}`);
    }
  };
  within("maxReceiveCount", settings.maxReceiveCount, 1, 1000);
  within("maxConcurrency", settings.maxConcurrency, 2, 1000);
  within("batchSize", settings.batchSize, 1, 10_000);
  within("workerConcurrency", settings.workerConcurrency, 1, 1000);
  within("highLevelMaxAttempts", settings.highLevelMaxAttempts, 1, 10);
  within("functionMemoryMiB", settings.functionMemoryMiB, 128, 10_240);
  within("maxDeferrals", settings.maxDeferrals, 0, 10_000);
  const retentionDays = settings.reportRetention.toDays({ integral: false });
  if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > 3650) {
    problems.push(`reportRetention must be whole days from 1 to 3650, got ${retentionDays}`);
  }
  const timeoutSeconds = functionTimeout.toSeconds();
  if (timeoutSeconds < 10 || timeoutSeconds > 900) {
    problems.push(`functionTimeout must be from 10 s to 900 s, got ${timeoutSeconds} s`);
  }
  if (settings.highLevelTimeoutMs >= timeoutSeconds * 1000) {
    problems.push(
      `highLevelTimeoutMs (${settings.highLevelTimeoutMs}) must be shorter than functionTimeout (${timeoutSeconds} s)`,
    );
  }
  if (settings.batchSize > 10 && maxBatchingWindow.toSeconds() === 0) {
    problems.push("batchSize above 10 needs a maxBatchingWindow of at least 1 s");
  }
  if (settings.visibilityTimeout.toSeconds() < minimumVisibility) {
    problems.push(
      `visibilityTimeout (${settings.visibilityTimeout.toSeconds()} s) must be at least 6 × functionTimeout + maxBatchingWindow = ${minimumVisibility} s, or SQS redelivers jobs that are still running`,
    );
  }
  if (
    settings.sourceRetention.toSeconds() >= Duration.days(d.deadLetterRetentionDays).toSeconds()
  ) {
    problems.push("sourceRetention must be shorter than the dead-letter queue's 14 days");
  }
  if (problems.length > 0) {
    throw new Error(`CsvDeletionPipeline: ${problems.join("; ")}`);
  }
  return settings;
}
