import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { describeNonRetryable } from "../functions/core/producers/sqs-errors.ts";
import { describeAwsError, OperationalError, UsageError } from "./errors.ts";

export interface SqsFlags {
  endpointUrl?: string;
  region?: string;
  profile?: string;
}

/** The AWS flags every AWS-facing verb takes. */
export const AWS_FLAG_HELP = {
  region: "AWS region (default: $AWS_REGION, else the queue URL's region)",
  profile: "AWS profile from ~/.aws (default: $AWS_PROFILE)",
} as const;

/**
 * An SQS client for the CLI. With an endpoint (`--endpoint-url` or AWS_ENDPOINT_URL_SQS, e.g. a
 * local fauxqs) requests go to it whatever host the queue URL names, and dummy credentials are
 * used when none are configured. Without a region anywhere, the queue URL's region is used.
 */
export function sqsClientFor(flags: SqsFlags, queueUrl?: string): SQSClient {
  const endpoint = flags.endpointUrl || process.env.AWS_ENDPOINT_URL_SQS || undefined;
  // An empty variable is as good as none.
  const region =
    flags.region ||
    process.env.AWS_REGION ||
    process.env.AWS_DEFAULT_REGION ||
    regionOfQueueUrl(queueUrl) ||
    (endpoint ? "us-east-1" : undefined);
  const profile = flags.profile;
  if (!endpoint) {
    return new SQSClient({ ...(region && { region }), ...(profile && { profile }) });
  }
  const hasCredentials = process.env.AWS_ACCESS_KEY_ID || process.env.AWS_PROFILE || profile;
  return new SQSClient({
    endpoint,
    useQueueUrlAsEndpoint: false,
    ...(region && { region }),
    ...(profile && { profile }),
    ...(!hasCredentials && { credentials: { accessKeyId: "local", secretAccessKey: "local" } }),
  });
}

/** `https://sqs.eu-west-1.amazonaws.com/…` → `eu-west-1`. */
export function regionOfQueueUrl(queueUrl: string | undefined): string | undefined {
  return queueUrl?.match(/^https:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\//)?.[1];
}

/**
 * Asks SQS about the queue before any work, so that a wrong queue, region, credentials or
 * endpoint stops the command within seconds with what to fix, not after retrying every batch.
 */
export async function checkQueue(
  client: SQSClient,
  queueUrl: string,
  flags: SqsFlags,
  what = "the queue",
): Promise<void> {
  try {
    await client.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
    );
  } catch (error) {
    throw new OperationalError(explainAwsError(error, queueUrl, flags, what));
  }
}

/** One line for an SQS failure: what to fix when we know it, else the error's name and message. */
export function explainAwsError(
  error: unknown,
  queueUrl: string | undefined,
  flags: SqsFlags,
  what = "the queue",
): string {
  const endpoint = flags.endpointUrl || process.env.AWS_ENDPOINT_URL_SQS || undefined;
  const hint = describeNonRetryable(error, {
    ...(queueUrl && { queueUrl: `${what} ${queueUrl}` }),
    ...(endpoint && { endpoint }),
  });
  return hint ?? `${what} ${queueUrl ?? ""}: ${describeAwsError(error)}`;
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
  /** The stack's coordination table (run records), when `--stack` named one. */
  coordinationTable?: string;
  /** The stack's token secret, when `--stack` named one. */
  tokenSecretArn?: string;
  stack?: string;
  region?: string;
  profile?: string;
}

/**
 * Where the queues are: `--queue-url`/`--dlq-url`, else the outputs of the deployed stack named
 * by `--stack`, else QUEUE_URL / DEAD_LETTER_QUEUE_URL.
 */
export async function resolveQueueFlags(flags: QueueFlags): Promise<QueueFlags> {
  if (!flags.stack) return flags;
  const { readStackOutputs } = await import("./stack-outputs.ts");
  const outputs = await readStackOutputs(flags.stack, {
    ...(flags.region && { region: flags.region }),
    ...(flags.profile && { profile: flags.profile }),
  });
  if (!outputs.QueueUrl) {
    throw new UsageError(
      `stack ${flags.stack} has no QueueUrl output: is it a ghl-csv-purge stack?`,
    );
  }
  return {
    ...flags,
    queueUrl: flags.queueUrl ?? outputs.QueueUrl,
    dlqUrl: flags.dlqUrl ?? outputs.DeadLetterQueueUrl,
    ...(outputs.CoordinationTableName && { coordinationTable: outputs.CoordinationTableName }),
    ...(outputs.TokenSecretArn && { tokenSecretArn: outputs.TokenSecretArn }),
  };
}

export { describeAwsError };
