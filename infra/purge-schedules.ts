import { Duration, Stack, TimeZone, Validations } from "aws-cdk-lib";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import type { CfnFunction, Function as LambdaFunction } from "aws-cdk-lib/aws-lambda";
import { Schedule, ScheduleExpression, ScheduleTargetInput } from "aws-cdk-lib/aws-scheduler";
import { LambdaInvoke } from "aws-cdk-lib/aws-scheduler-targets";
import { Construct } from "constructs";
import { parsePurgePolicy } from "../functions/core/producers/purge-policy.ts";
import { highLevelEnvironment, type PipelineParts } from "./function-environment.ts";
import { roleWithLogs } from "./function-role.ts";
import { packageFunction } from "./lambda-functions.ts";
import type { PurgeScheduleProps, ResolvedSettings } from "./pipeline-props.ts";

export interface PurgeSchedulesProps extends PipelineParts {
  schedules: PurgeScheduleProps[];
  settings: ResolvedSettings;
}

/**
 * Scheduled purges: the plan-purge Lambda (its own role: send jobs, read the token, take rate
 * permits and keep its cursor) and one EventBridge Scheduler schedule per policy, each policy
 * validated at synth. The scheduler's role may only invoke the planner.
 */
export class PurgeSchedules extends Construct {
  readonly planner: LambdaFunction;
  readonly schedules: Schedule[];

  constructor(scope: Construct, id: string, props: PurgeSchedulesProps) {
    super(scope, id);
    const { settings } = props;
    const { role, logGroup } = roleWithLogs(
      this,
      "Planner",
      "ghl-csv-purge purge planner: list uploads, enqueue jobs, read the token",
      settings.logRetention,
    );
    this.planner = packageFunction(this, "Planner", "plan-purge", {
      description:
        "Lists HighLevel CSV uploads and enqueues the deletion of those a purge policy selects",
      memorySize: settings.functionMemoryMiB,
      timeout: Duration.minutes(5),
      role,
      logGroup,
      environment: {
        ...highLevelEnvironment(props, settings),
        POWERTOOLS_SERVICE_NAME: "ghl-csv-purge-planner",
      },
    });
    props.queue.grantSendMessages(this.planner);
    props.tokenSecret.grantRead(this.planner);
    props.coordination.grantBudgets(this.planner);

    const schedulerRole = new Role(this, "SchedulerRole", {
      assumedBy: new ServicePrincipal("scheduler.amazonaws.com"),
      description: "ghl-csv-purge: lets EventBridge Scheduler invoke the purge planner",
    });
    Validations.of(schedulerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.planner.node.defaultChild as CfnFunction)}.Arn>:*]`,
      reason:
        "CDK's LambdaInvoke target grants lambda:InvokeFunction on the planner and its versions (ARN:*); it names the one function and nothing else.",
    });
    const names = new Set<string>();
    this.schedules = props.schedules.map((schedule) => {
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
      return new Schedule(this, schedule.name, {
        description: `ghl-csv-purge: purge ${policy.locationIds === "all" ? "every location the token reaches" : `${policy.locationIds.length} location(s)`}, uploads older than ${policy.olderThanDays} days`,
        schedule: ScheduleExpression.expression(
          schedule.schedule,
          schedule.timeZone ? TimeZone.of(schedule.timeZone) : undefined,
        ),
        target: new LambdaInvoke(this.planner, {
          // The schedule names its runs (purge-<name>-<UTC time>) and its resume cursor.
          input: ScheduleTargetInput.fromObject({ ...policy, runName: schedule.name }),
          retryAttempts: 2,
          role: schedulerRole,
        }),
      });
    });
  }
}
