import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { loadPlannerConfig } from "../core/config.ts";
import { logger } from "../core/observability.ts";
import { type PurgePlan, planPurge } from "../core/producers/purge-planner.ts";
import { parsePurgePolicy } from "../core/producers/purge-policy.ts";
import {
  createHighLevelRuntime,
  createRunTable,
  type RuntimeOverrides,
} from "../core/worker/worker-runtime.ts";

/** What the planner returns to the schedule (its invocation record): counts and a sample. */
export interface PurgeResult extends Omit<PurgePlan, "deletions" | "uploads"> {
  selected: number;
  sample: PurgePlan["deletions"];
  /** Uploads kept back because posts are still scheduled (the first 20). */
  protectedSample: PurgePlan["uploads"];
}

/** Builds the scheduled purge planner from the environment (checked once, at cold start). */
export function createPlanPurgeHandler(
  env: Record<string, string | undefined>,
  overrides: Omit<RuntimeOverrides, "log" | "onSettled"> = {},
) {
  const config = loadPlannerConfig(env);
  const runtime = createHighLevelRuntime(config, { log: logger, ...overrides });
  const runTable = createRunTable(config, overrides);

  const plan = async (event: unknown, context: Context): Promise<PurgeResult> => {
    const policy = parsePurgePolicy(event);
    const result = await planPurge(policy, {
      ...runtime,
      sqs: await runtime.sqs(),
      queueUrl: config.queueUrl,
      deadline: Date.now() + context.getRemainingTimeInMillis() - 2_000,
      ...(runTable && { runTable }),
    });
    const { deletions, uploads, ...counts } = result;
    logger.info("purge planned", { ...counts, selected: deletions.length });
    return {
      ...counts,
      selected: deletions.length,
      sample: deletions.slice(0, 20),
      protectedSample: uploads.filter((upload) => upload.decision === "protected").slice(0, 20),
    };
  };

  return middy(plan).use(injectLambdaContext(logger, { resetKeys: true }));
}
