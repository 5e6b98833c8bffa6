import { CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import { CsvDeletionPipeline, type CsvDeletionPipelineProps } from "./csv-deletion-pipeline.ts";

export interface GhlCsvPurgeStackProps extends StackProps {
  /** The pipeline's props, or a function that builds them in the stack (to import resources). */
  pipeline?: CsvDeletionPipelineProps | ((stack: Stack) => CsvDeletionPipelineProps);
}

/** The standalone deployment: one pipeline and the outputs an operator needs. */
export class GhlCsvPurgeStack extends Stack {
  readonly pipeline: CsvDeletionPipeline;

  constructor(scope: Construct, id: string, props: GhlCsvPurgeStackProps = {}) {
    super(scope, id, props);
    const pipelineProps =
      typeof props.pipeline === "function" ? props.pipeline(this) : props.pipeline;
    this.pipeline = new CsvDeletionPipeline(this, "CsvDeletion", pipelineProps);
    new CfnOutput(this, "QueueUrl", {
      value: this.pipeline.queue.queueUrl,
      description: "Send deletion jobs here (ghl-csv-purge enqueue --queue-url)",
    });
    new CfnOutput(this, "DeadLetterQueueUrl", {
      value: this.pipeline.deadLetterQueue.queueUrl,
      description: "Jobs that could not be deleted, with failure-* attributes",
    });
    new CfnOutput(this, "TokenSecretArn", {
      value: this.pipeline.tokenSecret.secretArn,
      description: "Put the HighLevel token here",
    });
    new CfnOutput(this, "WorkerFunctionName", { value: this.pipeline.worker.functionName });
    if (this.pipeline.dashboard) {
      new CfnOutput(this, "DashboardUrl", { value: this.pipeline.dashboard.url });
    }
    new CfnOutput(this, "ReportBucketName", {
      value: this.pipeline.reports.bucket.bucketName,
      description:
        "Per-job results of every run, under runs/<runId>/results/ (ghl-csv-purge report --stack)",
    });
    new CfnOutput(this, "CoordinationTableName", {
      value: this.pipeline.coordination.table.tableName,
      description:
        "The fleet's shared rate budgets: set COORDINATION_TABLE to it for ghl-csv-purge purge",
    });
  }
}
