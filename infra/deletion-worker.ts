import type { Function as LambdaFunction } from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { highLevelEnvironment, type PipelineParts } from "./function-environment.ts";
import { roleWithLogs } from "./function-role.ts";
import { packageFunction } from "./lambda-functions.ts";
import type { ResolvedSettings } from "./pipeline-props.ts";
import type { ReportBucket } from "./report-bucket.ts";

export interface DeletionWorkerProps extends PipelineParts {
  deadLetterQueue: IQueue;
  reports: ReportBucket;
  settings: ResolvedSettings;
}

/**
 * The worker: the delete-csv Lambda on the jobs queue's event source (partial batch
 * responses, `maxConcurrency`), with a role that may only consume and park jobs, read the
 * token, take rate permits, update run records and put results under `runs/`.
 */
export class DeletionWorker extends Construct {
  readonly function: LambdaFunction;

  constructor(scope: Construct, id: string, props: DeletionWorkerProps) {
    super(scope, id);
    const { settings } = props;
    const { role, logGroup } = roleWithLogs(
      this,
      "",
      "ghl-csv-purge worker: consume jobs, defer, dead-letter, read the token",
      settings.logRetention,
    );
    this.function = packageFunction(this, "Function", "delete-csv", {
      description: "Deletes HighLevel Social Planner CSV uploads named by SQS jobs",
      memorySize: settings.functionMemoryMiB,
      timeout: settings.functionTimeout,
      role,
      logGroup,
      environment: {
        ...highLevelEnvironment(props, settings),
        DEAD_LETTER_QUEUE_URL: props.deadLetterQueue.queueUrl,
        REPORT_BUCKET: props.reports.bucket.bucketName,
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
    this.function.addEventSource(
      new SqsEventSource(props.queue, {
        batchSize: settings.batchSize,
        maxBatchingWindow: settings.maxBatchingWindow,
        maxConcurrency: settings.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    props.queue.grantSendMessages(this.function);
    props.deadLetterQueue.grantSendMessages(this.function);
    props.tokenSecret.grantRead(this.function);
    props.coordination.grantBudgets(this.function);
    props.reports.grantPutResults(this.function);
  }
}
