import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { pipelinePropsFromContext } from "./context.ts";
import { GhlCsvPurgeStack } from "./ghl-csv-purge-stack.ts";

/** Builds the standalone app from CDK context; cdk-nag's AwsSolutions checks run on synth. */
export function buildApp(app = new App()): { app: App; stack: GhlCsvPurgeStack } {
  const stackName = String(app.node.tryGetContext("stackName") ?? "GhlCsvPurge");
  const stack = new GhlCsvPurgeStack(app, stackName, {
    description: "ghl-csv-purge: deletes HighLevel Social Planner CSV uploads from an SQS queue",
    pipeline: (stack) => pipelinePropsFromContext(stack),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  buildApp().app.synth();
}
