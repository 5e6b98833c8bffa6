import { Duration, Stack } from "aws-cdk-lib";
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  MathExpression,
  SingleValueWidget,
  TextWidget,
} from "aws-cdk-lib/aws-cloudwatch";
import type { Function as LambdaFunction } from "aws-cdk-lib/aws-lambda";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { METRIC } from "../functions/core/metric-names.ts";
import { pipelineMetric } from "./pipeline-metrics.ts";

export interface PipelineDashboardProps {
  queue: Queue;
  deadLetterQueue: Queue;
  worker: LambdaFunction;
  alarms: IAlarm[];
  /** The token refresher, when the stack has one. */
  refresher?: LambdaFunction;
}

const MINUTE = Duration.minutes(1);

/**
 * The pipeline at a glance: jobs waiting and their age, deletions per minute by outcome,
 * HighLevel's answers and 429s, the worker's health, the DLQ, token refreshes, and every alarm.
 */
export class PipelineDashboard extends Construct {
  readonly dashboard: Dashboard;
  /** The dashboard's URL in the console. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const { queue, deadLetterQueue, worker } = props;
    const sum = (name: string, label: string) => pipelineMetric(name, MINUTE, { label });
    const graph = (title: string, left: IMetric[], right?: IMetric[]) =>
      new GraphWidget({ title, left, ...(right && { right }), width: 8, height: 6 });

    this.dashboard = new Dashboard(this, "Dashboard", {
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new TextWidget({
            markdown:
              "# ghl-csv-purge\nRunbook: docs/operate.md, *Runbook*. First command: `ghl-csv-purge status --stack <name>`.",
            width: 24,
            height: 2,
          }),
        ],
        [new AlarmStatusWidget({ title: "Alarms", alarms: props.alarms, width: 24, height: 3 })],
        [
          graph("Jobs on the queue", [
            queue.metricApproximateNumberOfMessagesVisible({ period: MINUTE, label: "waiting" }),
            queue.metricApproximateNumberOfMessagesNotVisible({
              period: MINUTE,
              label: "in flight",
            }),
            queue.metricApproximateNumberOfMessagesDelayed({
              period: MINUTE,
              label: "delayed (deferred)",
            }),
          ]),
          graph("Age of the oldest job (s)", [
            queue.metricApproximateAgeOfOldestMessage({ period: MINUTE, statistic: "Maximum" }),
          ]),
          new SingleValueWidget({
            title: "Dead letters waiting",
            metrics: [
              deadLetterQueue.metricApproximateNumberOfMessagesVisible({
                period: MINUTE,
                statistic: "Maximum",
              }),
            ],
            width: 8,
            height: 6,
          }),
        ],
        [
          graph("Jobs per minute by outcome", [
            sum(METRIC.deleted, "deleted"),
            sum(METRIC.alreadyAbsent, "already absent"),
            sum(METRIC.deadLettered, "dead-lettered"),
            sum(METRIC.deferred, "deferred"),
            sum(METRIC.handedBack, "handed back (budget busy)"),
            sum(METRIC.redelivered, "redelivered"),
          ]),
          graph(
            "HighLevel answers per minute",
            [
              sum(METRIC.highLevelCalls, "calls"),
              sum(METRIC.highLevelThrottled, "429s"),
              sum(METRIC.highLevelRetries, "retries"),
            ],
            [
              new MathExpression({
                expression: "100 * throttled / MAX([calls, 1])",
                usingMetrics: {
                  throttled: sum(METRIC.highLevelThrottled, "429s"),
                  calls: sum(METRIC.highLevelCalls, "calls"),
                },
                label: "429s, % of calls",
                period: MINUTE,
              }),
            ],
          ),
          graph("Waiting on tokens", [
            sum(METRIC.tokenExpired, "jobs deferred: token expired"),
            sum(METRIC.tokensRefreshed, "tokens refreshed"),
            sum(METRIC.tokenRefreshFailed, "refreshes failed"),
          ]),
        ],
        [
          graph("Worker duration (ms)", [
            worker.metricDuration({ period: MINUTE, statistic: "Average", label: "average" }),
            worker.metricDuration({ period: MINUTE, statistic: "Maximum", label: "maximum" }),
          ]),
          graph("Worker concurrency", [
            worker.metric("ConcurrentExecutions", { period: MINUTE, statistic: "Maximum" }),
          ]),
          graph("Worker errors and throttles", [
            worker.metricErrors({ period: MINUTE }),
            worker.metricThrottles({ period: MINUTE }),
            ...(props.refresher
              ? [props.refresher.metricErrors({ period: MINUTE, label: "refresher errors" })]
              : []),
          ]),
        ],
      ],
    });
    const stack = Stack.of(this);
    this.url = `https://${stack.region}.console.aws.amazon.com/cloudwatch/home?region=${stack.region}#dashboards:name=${this.dashboard.dashboardName}`;
  }
}
