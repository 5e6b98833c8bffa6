import { SQSClient } from "@aws-sdk/client-sqs";
import { UsageError } from "./errors.ts";

export interface SqsFlags {
  endpointUrl?: string;
}

/**
 * An SQS client for the CLI. With an endpoint (`--endpoint-url` or AWS_ENDPOINT_URL_SQS, e.g. a
 * local fauxqs) requests go to it whatever host the queue URL names, and dummy credentials are
 * used when none are configured.
 */
export function sqsClientFor(flags: SqsFlags): SQSClient {
  const endpoint = flags.endpointUrl ?? process.env.AWS_ENDPOINT_URL_SQS;
  if (!endpoint) return new SQSClient({});
  const hasCredentials = process.env.AWS_ACCESS_KEY_ID || process.env.AWS_PROFILE;
  return new SQSClient({
    endpoint,
    useQueueUrlAsEndpoint: false,
    region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1",
    ...(!hasCredentials && { credentials: { accessKeyId: "local", secretAccessKey: "local" } }),
  });
}

/** A flag's value, else an environment variable's, else a usage error naming both. */
export function required(value: string | undefined, envName: string, flag: string): string {
  const resolved = value ?? process.env[envName];
  if (!resolved?.trim()) {
    throw new UsageError(`${flag} is required (or --stack, or set ${envName})`);
  }
  return resolved.trim();
}

export interface QueueFlags {
  queueUrl?: string;
  dlqUrl?: string;
  stack?: string;
}

/**
 * Where the queues are: `--queue-url`/`--dlq-url`, else the outputs of the deployed stack named
 * by `--stack`, else QUEUE_URL / DEAD_LETTER_QUEUE_URL.
 */
export async function resolveQueueFlags(flags: QueueFlags): Promise<QueueFlags> {
  if (!flags.stack) return flags;
  const { readStackOutputs } = await import("./stack-outputs.ts");
  const outputs = await readStackOutputs(flags.stack);
  if (!outputs.QueueUrl) {
    throw new UsageError(
      `stack ${flags.stack} has no QueueUrl output: is it a ghl-csv-purge stack?`,
    );
  }
  return {
    ...flags,
    queueUrl: flags.queueUrl ?? outputs.QueueUrl,
    dlqUrl: flags.dlqUrl ?? outputs.DeadLetterQueueUrl,
  };
}

/** Turns an SDK failure into one line: its name and message, never a stack. */
export function describeAwsError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
