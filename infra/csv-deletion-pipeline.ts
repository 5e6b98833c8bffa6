import { ArnFormat, Duration, Names, Stack, TimeZone, Validations } from "aws-cdk-lib";
import {
  Alarm,
  ComparisonOperator,
  type IAlarmAction,
  MathExpression,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import type { IEventBus } from "aws-cdk-lib/aws-events";
import { PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import type { CfnFunction, IFunction, Function as LambdaFunction } from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Schedule, ScheduleExpression, ScheduleTargetInput } from "aws-cdk-lib/aws-scheduler";
import { LambdaInvoke } from "aws-cdk-lib/aws-scheduler-targets";
import { type ISecret, Secret } from "aws-cdk-lib/aws-secretsmanager";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import { type CfnQueue, Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { METRIC } from "../functions/core/metric-names.ts";
import {
  type PurgePolicyInput,
  parsePurgePolicy,
} from "../functions/core/producers/purge-policy.ts";
import { CoordinationTable } from "./coordination-table.ts";
import { DeletionEvents } from "./deletion-events.ts";
import { packageFunction } from "./lambda-functions.ts";
import { PipelineDashboard } from "./pipeline-dashboard.ts";
import { alarmOnAny, pipelineMetric } from "./pipeline-metrics.ts";
import { ReportBucket } from "./report-bucket.ts";
import { minimumVisibilityTimeoutSeconds, PIPELINE_DEFAULTS } from "./settings.ts";
import { TokenRefresher } from "./token-refresher.ts";

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

/**
 * The whole deletion pipeline: source queue and DLQ, the worker Lambda on an SQS event
 * source, the token secret, the EventBridge entry point and the alarms.
 *
 * @example
 * const pipeline = new CsvDeletionPipeline(stack, "CsvDeletion", { maxConcurrency: 4 });
 * pipeline.queue.grantSendMessages(myProducer);
 */
export class CsvDeletionPipeline extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly worker: LambdaFunction;
  readonly tokenSecret: ISecret;
  /** The coordination table: the fleet's shared rate budgets (COORDINATION_TABLE), run records. */
  readonly coordination: CoordinationTable;
  /** Per-job results of every run (REPORT_BUCKET), under `runs/<runId>/results/`. */
  readonly reports: ReportBucket;
  /** EventBridge events → jobs: `events.withRunRule` and `events.perDayRule`. */
  readonly events: DeletionEvents;
  readonly alarms: Alarm[];
  /** The purge planner, when there are purge schedules. */
  readonly planner: LambdaFunction | undefined;
  /** The OAuth token refresher, unless turned off. */
  readonly tokenRefresher: TokenRefresher | undefined;
  /** The pipeline's dashboard, unless turned off. */
  readonly dashboard: PipelineDashboard | undefined;
  readonly purgeSchedules: Schedule[];
  readonly settings: Readonly<ResolvedSettings>;

  constructor(scope: Construct, id: string, props: CsvDeletionPipelineProps = {}) {
    super(scope, id);
    const settings = resolveSettings(props);
    this.settings = settings;

    this.deadLetterQueue = new Queue(this, "DeadLetterQueue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(PIPELINE_DEFAULTS.deadLetterRetentionDays),
    });
    // The DLQ names its one source queue (RedriveAllowPolicy byQueue). Naming the source queue
    // up front lets the DLQ state its ARN without a circular reference between the two.
    const queueName = `${Names.uniqueResourceName(this, { maxLength: 70, separator: "-" })}-jobs`;
    const sourceQueueArn = Stack.of(this).formatArn({
      service: "sqs",
      resource: queueName,
      arnFormat: ArnFormat.NO_RESOURCE_NAME,
    });
    (this.deadLetterQueue.node.defaultChild as CfnQueue).redriveAllowPolicy = {
      redrivePermission: "byQueue",
      sourceQueueArns: [sourceQueueArn],
    };
    this.queue = new Queue(this, "Queue", {
      queueName,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: settings.visibilityTimeout,
      retentionPeriod: settings.sourceRetention,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: settings.maxReceiveCount },
    });

    this.tokenSecret =
      props.tokenSecret ??
      new Secret(this, "TokenSecret", {
        description:
          'HighLevel token for ghl-csv-purge: a bare Private Integration Token, JSON {"default": "...", "<locationId>": "..."}, or an OAuth token set (ghl-csv-purge auth connect). Replace the placeholder before sending jobs.',
        generateSecretString: { passwordLength: 32, excludePunctuation: true },
      });
    if (!props.tokenSecret) {
      Validations.of(this.tokenSecret).acknowledge({
        id: "AwsSolutions-SMG4",
        reason:
          "HighLevel Private Integration Tokens are issued in HighLevel's UI; Secrets Manager cannot rotate them. Rotate in HighLevel, then update the secret.",
      });
    }

    this.coordination = new CoordinationTable(this, "Coordination");
    this.reports = new ReportBucket(this, "Reports", { retention: settings.reportRetention });
    this.worker = this.#createWorker(settings);

    this.events = new DeletionEvents(this, "DeletionRequested", {
      queue: this.queue,
      ...(props.eventBus && { eventBus: props.eventBus }),
      eventSources: settings.eventSources,
      detailType: settings.detailType,
    });

    this.tokenRefresher =
      props.tokenRefresher === false ? undefined : this.#createTokenRefresher(settings);
    this.alarms = this.#createAlarms(settings, props.alarmTopic);
    this.dashboard =
      props.dashboard === false
        ? undefined
        : new PipelineDashboard(this, "Dashboard", {
            queue: this.queue,
            deadLetterQueue: this.deadLetterQueue,
            worker: this.worker,
            alarms: this.alarms,
            ...(this.tokenRefresher && { refresher: this.tokenRefresher.function }),
          });

    const schedules = props.purgeSchedules ?? [];
    this.planner = schedules.length > 0 ? this.#createPlanner(settings) : undefined;
    const schedulerRole = this.planner && this.#createSchedulerRole();
    const names = new Set<string>();
    this.purgeSchedules = schedules.map((schedule) => {
      if (!/^[A-Za-z0-9-]{1,40}$/.test(schedule.name) || names.has(schedule.name)) {
        throw new Error(
          `CsvDeletionPipeline: purge schedule names must be unique, 1–40 letters, digits or '-', got "${schedule.name}"`,
        );
      }
      names.add(schedule.name);
      let policy: ReturnType<typeof parsePurgePolicy>;
      try {
        policy = parsePurgePolicy(schedule.policy);
      } catch (error) {
        throw new Error(
          `CsvDeletionPipeline: purge schedule "${schedule.name}": ${(error as Error).message}`,
        );
      }
      return new Schedule(this, `Purge-${schedule.name}`, {
        description: `ghl-csv-purge: purge ${policy.locationIds === "all" ? "every location the token reaches" : `${policy.locationIds.length} location(s)`}, uploads older than ${policy.olderThanDays} days`,
        schedule: ScheduleExpression.expression(
          schedule.schedule,
          schedule.timeZone ? TimeZone.of(schedule.timeZone) : undefined,
        ),
        target: new LambdaInvoke(this.planner as LambdaFunction, {
          // The schedule names its runs: purge-<name>-<UTC time>.
          input: ScheduleTargetInput.fromObject({ ...policy, runName: schedule.name }),
          retryAttempts: 2,
          ...(schedulerRole && { role: schedulerRole }),
        }),
      });
    });
  }

  #createSchedulerRole(): Role {
    const role = new Role(this, "PurgeSchedulerRole", {
      assumedBy: new ServicePrincipal("scheduler.amazonaws.com"),
      description: "ghl-csv-purge: lets EventBridge Scheduler invoke the purge planner",
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.planner?.node.defaultChild as CfnFunction)}.Arn>:*]`,
      reason:
        "CDK's LambdaInvoke target grants lambda:InvokeFunction on the planner and its versions (ARN:*); it names the one function and nothing else.",
    });
    return role;
  }

  /**
   * A function's own log group and a role that may write only there: no managed policy, so the
   * role holds nothing but what each function is granted below.
   */
  #roleWithLogs(name: string, description: string, settings: ResolvedSettings) {
    const logGroup = new LogGroup(this, `${name}Logs`, { retention: settings.logRetention });
    const role = new Role(this, `${name}Role`, {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description,
    });
    role.addToPolicy(
      new PolicyStatement({
        actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
        resources: [logGroup.logGroupArn],
      }),
    );
    return { role, logGroup };
  }

  /** The variables both Lambdas read (functions/core/config.ts, loadPlannerConfig). */
  #highLevelEnvironment(settings: ResolvedSettings): Record<string, string> {
    return {
      QUEUE_URL: this.queue.queueUrl,
      HIGHLEVEL_TOKEN_SECRET_ARN: this.tokenSecret.secretArn,
      HIGHLEVEL_BASE_URL: settings.highLevelBaseUrl,
      HIGHLEVEL_MAX_ATTEMPTS: String(settings.highLevelMaxAttempts),
      HIGHLEVEL_TIMEOUT_MS: String(settings.highLevelTimeoutMs),
      COORDINATION_TABLE: this.coordination.table.tableName,
      REPORT_RETENTION_DAYS: String(settings.reportRetention.toDays()),
      NODE_OPTIONS: "--enable-source-maps",
    };
  }

  #createTokenRefresher(settings: ResolvedSettings): TokenRefresher {
    const { role, logGroup } = this.#roleWithLogs(
      "TokenRefresher",
      "ghl-csv-purge token refresher: read and write the token secret, take the refresh lease",
      settings,
    );
    return new TokenRefresher(this, "TokenRefresher", {
      secret: this.tokenSecret,
      coordination: this.coordination,
      functionProps: {
        memorySize: settings.functionMemoryMiB,
        role,
        logGroup,
        environment: {
          HIGHLEVEL_TOKEN_SECRET_ARN: this.tokenSecret.secretArn,
          HIGHLEVEL_BASE_URL: settings.highLevelBaseUrl,
          COORDINATION_TABLE: this.coordination.table.tableName,
          POWERTOOLS_SERVICE_NAME: "ghl-csv-purge-token-refresher",
          NODE_OPTIONS: "--enable-source-maps",
        },
      },
    });
  }

  #createPlanner(settings: ResolvedSettings): LambdaFunction {
    const { role, logGroup } = this.#roleWithLogs(
      "Planner",
      "ghl-csv-purge purge planner: list uploads, enqueue jobs, read the token",
      settings,
    );
    const planner = packageFunction(this, "Planner", "plan-purge", {
      description:
        "Lists HighLevel CSV uploads and enqueues the deletion of those a purge policy selects",
      memorySize: settings.functionMemoryMiB,
      timeout: Duration.minutes(5),
      role,
      logGroup,
      environment: {
        ...this.#highLevelEnvironment(settings),
        POWERTOOLS_SERVICE_NAME: "ghl-csv-purge-planner",
      },
    });
    this.queue.grantSendMessages(planner);
    this.tokenSecret.grantRead(planner);
    this.coordination.grantBudgets(planner);
    return planner;
  }

  #createWorker(settings: ResolvedSettings): LambdaFunction {
    const { role, logGroup } = this.#roleWithLogs(
      "Worker",
      "ghl-csv-purge worker: consume jobs, defer, dead-letter, read the token",
      settings,
    );

    const worker = packageFunction(this, "Worker", "delete-csv", {
      description: "Deletes HighLevel Social Planner CSV uploads named by SQS jobs",
      memorySize: settings.functionMemoryMiB,
      timeout: settings.functionTimeout,
      role,
      logGroup,
      environment: {
        ...this.#highLevelEnvironment(settings),
        DEAD_LETTER_QUEUE_URL: this.deadLetterQueue.queueUrl,
        REPORT_BUCKET: this.reports.bucket.bucketName,
        MAX_RECEIVE_COUNT: String(settings.maxReceiveCount),
        WORKER_CONCURRENCY: String(settings.workerConcurrency),
        MAX_DEFERRALS: String(settings.maxDeferrals),
        POWERTOOLS_SERVICE_NAME: "ghl-csv-purge",
        POWERTOOLS_METRICS_NAMESPACE: "GhlCsvPurge",
        POWERTOOLS_LOG_LEVEL: settings.logLevel,
        // 1% of invocations log at DEBUG (a line per job), for a sample of the detail.
        POWERTOOLS_LOGGER_SAMPLE_RATE: "0.01",
      },
    });

    worker.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: settings.batchSize,
        maxBatchingWindow: settings.maxBatchingWindow,
        maxConcurrency: settings.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    this.queue.grantSendMessages(worker);
    this.deadLetterQueue.grantSendMessages(worker);
    this.tokenSecret.grantRead(worker);
    this.coordination.grantBudgets(worker);
    this.reports.grantPutResults(worker);
    return worker;
  }

  #createAlarms(settings: ResolvedSettings, topic: ITopic | undefined): Alarm[] {
    const alarms = [
      alarmOnAny(this, "DeadLettersAlarm", {
        description: "ghl-csv-purge: jobs are waiting on the dead-letter queue",
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: "Maximum",
        }),
      }),
      new Alarm(this, "OldestJobAlarm", {
        alarmDescription: "ghl-csv-purge: the oldest job on the queue has waited too long",
        metric: this.queue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(5),
          statistic: "Maximum",
        }),
        threshold: settings.oldestMessageAgeAlarm.toSeconds(),
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, "ThrottledShareAlarm", {
        alarmDescription:
          "ghl-csv-purge: more than 1% of HighLevel calls answered 429 over 15 minutes: lower maxConcurrency, or check that COORDINATION_TABLE is set",
        metric: new MathExpression({
          expression: "100 * throttled / MAX([calls, 1])",
          usingMetrics: {
            throttled: pipelineMetric(METRIC.highLevelThrottled, Duration.minutes(15)),
            calls: pipelineMetric(METRIC.highLevelCalls, Duration.minutes(15)),
          },
          label: "429s, % of calls",
          period: Duration.minutes(15),
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      alarmOnAny(this, "DeferralsGrowingAlarm", {
        description:
          "ghl-csv-purge: jobs have been deferred in every quarter hour for an hour (a location stuck on its daily budget, or a token): `ghl-csv-purge status`, then `dlq inspect`",
        metric: pipelineMetric(METRIC.deferred, Duration.minutes(15)),
        periods: 4,
      }),
      alarmOnAny(this, "WorkerThrottlesAlarm", {
        description:
          "ghl-csv-purge: Lambda throttled the worker (account concurrency): raise the account's limit or lower maxConcurrency",
        metric: (this.worker as IFunction).metricThrottles({
          period: Duration.minutes(5),
          statistic: "Sum",
        }),
      }),
      alarmOnAny(this, "WorkerErrorsAlarm", {
        description: "ghl-csv-purge: the worker failed invocations (crashes, timeouts)",
        metric: (this.worker as IFunction).metricErrors({
          period: Duration.minutes(5),
          statistic: "Sum",
        }),
      }),
    ];
    alarms.push(...(this.tokenRefresher?.alarms ?? []));
    if (topic) {
      const action: IAlarmAction = new SnsAction(topic);
      for (const alarm of alarms) alarm.addAlarmAction(action);
    }
    return alarms;
  }
}

interface ResolvedSettings {
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
