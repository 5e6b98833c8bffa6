import { Duration } from "aws-cdk-lib";
import {
  Alarm,
  ComparisonOperator,
  type IAlarmAction,
  MathExpression,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import type { Function as LambdaFunction } from "aws-cdk-lib/aws-lambda";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { METRIC } from "../functions/core/metric-names.ts";
import { PipelineDashboard } from "./pipeline-dashboard.ts";
import { alarmOnAny, pipelineMetric } from "./pipeline-metrics.ts";
import type { ResolvedSettings } from "./pipeline-props.ts";
import type { TokenRefresher } from "./token-refresher.ts";

export interface PipelineMonitoringProps {
  queue: Queue;
  deadLetterQueue: Queue;
  worker: LambdaFunction;
  tokenRefresher: TokenRefresher | undefined;
  settings: ResolvedSettings;
  /** Where alarms notify, if anywhere. */
  alarmTopic?: ITopic;
  /** Draw the dashboard. Default true. */
  dashboard?: boolean;
}

/**
 * The pipeline's alarms (dead letters, old jobs, the 429 share, deferrals growing, worker
 * throttles and errors, and the token refresher's) and its CloudWatch dashboard. The runbook
 * in docs/operate.md has a row per alarm.
 */
export class PipelineMonitoring extends Construct {
  readonly alarms: Alarm[];
  readonly dashboard: PipelineDashboard | undefined;

  constructor(scope: Construct, id: string, props: PipelineMonitoringProps) {
    super(scope, id);
    const alarms = [
      alarmOnAny(this, "DeadLettersAlarm", {
        description: "ghl-csv-purge: jobs are waiting on the dead-letter queue",
        metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: "Maximum",
        }),
      }),
      new Alarm(this, "OldestJobAlarm", {
        alarmDescription: "ghl-csv-purge: the oldest job on the queue has waited too long",
        metric: props.queue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(5),
          statistic: "Maximum",
        }),
        threshold: props.settings.oldestMessageAgeAlarm.toSeconds(),
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
        metric: props.worker.metricThrottles({
          period: Duration.minutes(5),
          statistic: "Sum",
        }),
      }),
      alarmOnAny(this, "WorkerErrorsAlarm", {
        description: "ghl-csv-purge: the worker failed invocations (crashes, timeouts)",
        metric: props.worker.metricErrors({
          period: Duration.minutes(5),
          statistic: "Sum",
        }),
      }),
    ];
    alarms.push(...(props.tokenRefresher?.alarms ?? []));
    if (props.alarmTopic) {
      const action: IAlarmAction = new SnsAction(props.alarmTopic);
      for (const alarm of alarms) alarm.addAlarmAction(action);
    }
    this.alarms = alarms;
    this.dashboard =
      props.dashboard === false
        ? undefined
        : new PipelineDashboard(this, "Dashboard", {
            queue: props.queue,
            deadLetterQueue: props.deadLetterQueue,
            worker: props.worker,
            alarms,
            ...(props.tokenRefresher && { refresher: props.tokenRefresher.function }),
          });
  }
}
