import { PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";

/**
 * A function's own log group and a role that may write only there: no managed policy, so the
 * role holds nothing but what the function is granted afterwards.
 */
export function roleWithLogs(
  scope: Construct,
  name: string,
  description: string,
  retention: RetentionDays,
): { role: Role; logGroup: LogGroup } {
  const logGroup = new LogGroup(scope, `${name}Logs`, { retention });
  const role = new Role(scope, `${name}Role`, {
    assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
    description,
  });
  role.addToPolicy(
    new PolicyStatement({
      actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
      resources: [logGroup.logGroupArn],
    }),
  );
  return { role, logGroup };
}
