import { Validations } from "aws-cdk-lib";
import type { Alarm } from "aws-cdk-lib/aws-cloudwatch";
import type { Function as LambdaFunction } from "aws-cdk-lib/aws-lambda";
import type { Schedule } from "aws-cdk-lib/aws-scheduler";
import { type ISecret, Secret } from "aws-cdk-lib/aws-secretsmanager";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { CoordinationTable } from "./coordination-table.ts";
import { DeletionEvents } from "./deletion-events.ts";
import { DeletionWorker } from "./deletion-worker.ts";
import { roleWithLogs } from "./function-role.ts";
import { JobQueues } from "./job-queues.ts";
import type { PipelineDashboard } from "./pipeline-dashboard.ts";
import { PipelineMonitoring } from "./pipeline-monitoring.ts";
import {
  type CsvDeletionPipelineProps,
  type ResolvedSettings,
  resolveSettings,
} from "./pipeline-props.ts";
import { PurgeSchedules } from "./purge-schedules.ts";
import { ReportBucket } from "./report-bucket.ts";
import { TokenRefresher } from "./token-refresher.ts";

export {
  type CsvDeletionPipelineProps,
  DEFAULT_DETAIL_TYPE,
  DEFAULT_EVENT_SOURCE,
  type PurgeScheduleProps,
  resolveSettings,
} from "./pipeline-props.ts";

/**
 * The whole deletion pipeline, composed of its parts: the jobs queue and DLQ, the token
 * secret, the coordination table, the report bucket, the worker on the queue's event source,
 * the EventBridge entry point, the token refresher, scheduled purges, alarms and a dashboard.
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
  /** The coordination table: the fleet's rate budgets (COORDINATION_TABLE), run records, leases. */
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

    const queues = new JobQueues(this, settings);
    this.queue = queues.queue;
    this.deadLetterQueue = queues.deadLetterQueue;
    this.tokenSecret = props.tokenSecret ?? this.#createTokenSecret();
    this.coordination = new CoordinationTable(this, "Coordination");
    this.reports = new ReportBucket(this, "Reports", { retention: settings.reportRetention });
    const parts = {
      queue: this.queue,
      tokenSecret: this.tokenSecret,
      coordination: this.coordination,
    };

    this.worker = new DeletionWorker(this, "Worker", {
      ...parts,
      deadLetterQueue: this.deadLetterQueue,
      reports: this.reports,
      settings,
    }).function;
    this.events = new DeletionEvents(this, "DeletionRequested", {
      queue: this.queue,
      ...(props.eventBus && { eventBus: props.eventBus }),
      eventSources: settings.eventSources,
      detailType: settings.detailType,
    });
    this.tokenRefresher =
      props.tokenRefresher === false ? undefined : this.#createTokenRefresher(settings);
    const purges =
      (props.purgeSchedules ?? []).length > 0
        ? new PurgeSchedules(this, "Purge", {
            ...parts,
            schedules: props.purgeSchedules ?? [],
            settings,
          })
        : undefined;
    this.planner = purges?.planner;
    this.purgeSchedules = purges?.schedules ?? [];
    const monitoring = new PipelineMonitoring(this, "Monitoring", {
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      worker: this.worker,
      tokenRefresher: this.tokenRefresher,
      settings,
      ...(props.alarmTopic && { alarmTopic: props.alarmTopic }),
      ...(props.dashboard === false && { dashboard: false }),
    });
    this.alarms = monitoring.alarms;
    this.dashboard = monitoring.dashboard;
  }

  /** Created empty (a generated placeholder): the token is put there after deploying. */
  #createTokenSecret(): ISecret {
    const secret = new Secret(this, "TokenSecret", {
      description:
        'HighLevel token for ghl-csv-purge: a bare Private Integration Token, JSON {"default": "...", "<locationId>": "..."}, or an OAuth token set (ghl-csv-purge auth connect). Replace the placeholder before sending jobs.',
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });
    Validations.of(secret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "HighLevel Private Integration Tokens are issued in HighLevel's UI; Secrets Manager cannot rotate them. Rotate in HighLevel, then update the secret.",
    });
    return secret;
  }

  #createTokenRefresher(settings: ResolvedSettings): TokenRefresher {
    const { role, logGroup } = roleWithLogs(
      this,
      "TokenRefresher",
      "ghl-csv-purge token refresher: read and write the token secret, take the refresh lease",
      settings.logRetention,
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
}
