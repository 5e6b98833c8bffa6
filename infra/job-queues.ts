import { ArnFormat, Duration, Names, Stack } from "aws-cdk-lib";
import { type CfnQueue, Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import type { ResolvedSettings } from "./pipeline-props.ts";
import { PIPELINE_DEFAULTS } from "./settings.ts";

/**
 * The jobs queue and its dead-letter queue: SSE-SQS, TLS only, redrive at `maxReceiveCount`,
 * the DLQ keeping 14 days and accepting redrives from its one source queue.
 *
 * The queues are made in the pipeline's own scope (`Queue`, `DeadLetterQueue`), where they
 * have always been: a construct path of their own would give them new logical ids, and an
 * upgrade would replace queues that hold jobs and dead letters.
 */
export class JobQueues {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, settings: ResolvedSettings) {
    this.deadLetterQueue = new Queue(scope, "DeadLetterQueue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(PIPELINE_DEFAULTS.deadLetterRetentionDays),
    });
    // The DLQ names its one source queue (RedriveAllowPolicy byQueue). Naming the source queue
    // up front lets the DLQ state its ARN without a circular reference between the two.
    const queueName = `${Names.uniqueResourceName(scope, { maxLength: 70, separator: "-" })}-jobs`;
    const sourceQueueArn = Stack.of(scope).formatArn({
      service: "sqs",
      resource: queueName,
      arnFormat: ArnFormat.NO_RESOURCE_NAME,
    });
    (this.deadLetterQueue.node.defaultChild as CfnQueue).redriveAllowPolicy = {
      redrivePermission: "byQueue",
      sourceQueueArns: [sourceQueueArn],
    };
    this.queue = new Queue(scope, "Queue", {
      queueName,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: settings.visibilityTimeout,
      retentionPeriod: settings.sourceRetention,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: settings.maxReceiveCount },
    });
  }
}
