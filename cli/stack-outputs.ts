import { CloudFormationClient, DescribeStacksCommand } from "@aws-sdk/client-cloudformation";
import { describeAwsError, OperationalError } from "./errors.ts";

/** The outputs of a deployed GhlCsvPurge stack (QueueUrl, DeadLetterQueueUrl, …), by key. */
export async function readStackOutputs(
  stackName: string,
  aws: { region?: string; profile?: string } = {},
  client: CloudFormationClient = cloudFormationClient(aws),
): Promise<Record<string, string>> {
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = Stacks?.[0]?.Outputs ?? [];
    return Object.fromEntries(
      outputs.flatMap((output) =>
        output.OutputKey && output.OutputValue ? [[output.OutputKey, output.OutputValue]] : [],
      ),
    );
  } catch (error) {
    throw new OperationalError(
      `could not read the outputs of stack ${stackName}: ${describeAwsError(error)}`,
    );
  } finally {
    client.destroy();
  }
}

/** Honours AWS_ENDPOINT_URL_CLOUDFORMATION (local stand-ins, tests) like the SDK's own clients. */
function cloudFormationClient(aws: { region?: string; profile?: string }): CloudFormationClient {
  const endpoint = process.env.AWS_ENDPOINT_URL_CLOUDFORMATION;
  const chosen = {
    ...(aws.region && { region: aws.region }),
    ...(aws.profile && { profile: aws.profile }),
  };
  return new CloudFormationClient(
    endpoint
      ? {
          endpoint,
          region: process.env.AWS_REGION ?? "us-east-1",
          ...(!process.env.AWS_ACCESS_KEY_ID && {
            credentials: { accessKeyId: "local", secretAccessKey: "local" },
          }),
          ...chosen,
        }
      : chosen,
  );
}
