import { Duration, Stack, Validations } from "aws-cdk-lib";
import type { Alarm } from "aws-cdk-lib/aws-cloudwatch";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import type {
  CfnFunction,
  FunctionOptions,
  Function as LambdaFunction,
} from "aws-cdk-lib/aws-lambda";
import { Schedule, ScheduleExpression } from "aws-cdk-lib/aws-scheduler";
import { LambdaInvoke } from "aws-cdk-lib/aws-scheduler-targets";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import { METRIC } from "../functions/core/metric-names.ts";
import type { CoordinationTable } from "./coordination-table.ts";
import { packageFunction } from "./lambda-functions.ts";
import { alarmOnAny, pipelineMetric } from "./pipeline-metrics.ts";

export interface TokenRefresherProps {
  secret: ISecret;
  coordination: CoordinationTable;
  /** The function's settings (memory, role, log group, environment). */
  functionProps: FunctionOptions & Required<Pick<FunctionOptions, "role">>;
  /** How often it runs. Default every hour. */
  schedule?: ScheduleExpression;
}

/**
 * The OAuth token refresher (DESIGN.md, "Tokens"): a Lambda that renews the secret's tokens
 * before they expire, run hourly by EventBridge Scheduler. Only its role may write the secret;
 * it takes the refresh lease in the coordination table. Alarms: a refresh failed; jobs wait on
 * an expired token. For a secret of Private Integration Tokens it does nothing.
 */
export class TokenRefresher extends Construct {
  readonly function: LambdaFunction;
  readonly schedule: Schedule;
  readonly alarms: Alarm[];

  constructor(scope: Construct, id: string, props: TokenRefresherProps) {
    super(scope, id);
    this.function = packageFunction(this, "Function", "refresh-token", {
      description: "Renews the HighLevel OAuth tokens in the token secret before they expire",
      timeout: Duration.minutes(3),
      ...props.functionProps,
    });
    props.secret.grantRead(this.function);
    props.secret.grantWrite(this.function);
    props.coordination.grantLease(this.function);

    const role = new Role(this, "SchedulerRole", {
      assumedBy: new ServicePrincipal("scheduler.amazonaws.com"),
      description: "ghl-csv-purge: lets EventBridge Scheduler invoke the token refresher",
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.function.node.defaultChild as CfnFunction)}.Arn>:*]`,
      reason:
        "CDK's LambdaInvoke target grants lambda:InvokeFunction on the refresher and its versions (ARN:*); it names the one function and nothing else.",
    });
    this.schedule = new Schedule(this, "Schedule", {
      description: "ghl-csv-purge: renew HighLevel OAuth tokens that expire within 6 hours",
      schedule: props.schedule ?? ScheduleExpression.rate(Duration.hours(1)),
      target: new LambdaInvoke(this.function, { role, retryAttempts: 2 }),
    });

    const metric = (metricName: string, period: Duration) => pipelineMetric(metricName, period);
    this.alarms = [
      alarmOnAny(this, "RefreshFailedAlarm", {
        description:
          "ghl-csv-purge: a HighLevel OAuth token could not be refreshed (revoked, app uninstalled, client secret changed): run `ghl-csv-purge auth status`, then `auth connect` with a new code",
        metric: metric(METRIC.tokenRefreshFailed, Duration.hours(1)),
      }),
      alarmOnAny(this, "TokenExpiredAlarm", {
        description:
          "ghl-csv-purge: jobs are deferred because the OAuth access token expired or is refused: check the refresher's last run (`ghl-csv-purge auth status`)",
        metric: metric(METRIC.tokenExpired, Duration.minutes(15)),
      }),
    ];
  }
}
