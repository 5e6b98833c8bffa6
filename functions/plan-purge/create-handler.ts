import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { createOAuthClient } from "../core/auth/oauth-client.ts";
import { loadPlannerConfig } from "../core/config.ts";
import { METRIC } from "../core/metric-names.ts";
import { logger, metrics } from "../core/observability.ts";
import { PurgeCursor } from "../core/producers/purge-cursor.ts";
import { type PurgePlan, planPurge } from "../core/producers/purge-planner.ts";
import { parsePurgePolicy } from "../core/producers/purge-policy.ts";
import {
  createHighLevelRuntime,
  createRunTable,
  dynamoDbClientFor,
  type RuntimeOverrides,
} from "../core/worker/worker-runtime.ts";

/** What the planner returns to the schedule (its invocation record): counts and a sample. */
export interface PurgeResult extends Omit<PurgePlan, "deletions" | "uploads"> {
  selected: number;
  sample: PurgePlan["deletions"];
  /** Uploads kept back because posts are still scheduled (the first 20). */
  protectedSample: PurgePlan["uploads"];
  /** Locations left for the next run (not reached, or stopped early): it starts with them. */
  resumeNext: string[];
}

/** Builds the scheduled purge planner from the environment (checked once, at cold start). */
export function createPlanPurgeHandler(
  env: Record<string, string | undefined>,
  overrides: Omit<RuntimeOverrides, "log" | "onSettled"> = {},
) {
  const config = loadPlannerConfig(env);
  const runtime = createHighLevelRuntime(config, { log: logger, ...overrides });
  const runTable = createRunTable(config, overrides);
  const cursor = config.coordinationTable
    ? new PurgeCursor(
        overrides.dynamoDb ?? dynamoDbClientFor(config.dynamoDbEndpoint),
        config.coordinationTable,
      )
    : undefined;

  const plan = async (event: unknown, context: Context): Promise<PurgeResult> => {
    const policy = parsePurgePolicy(event);
    const cursorName = policy.runName ?? "unnamed";
    const firstLocations = cursor
      ? await cursor.pending(cursorName).catch((error: unknown) => {
          logger.warn("could not read where the last run stopped; starting from the top", {
            error: String(error).slice(0, 300),
          });
          return [];
        })
      : [];
    const result = await planPurge(policy, {
      ...runtime,
      sqs: await runtime.sqs(),
      queueUrl: config.queueUrl,
      deadline: Date.now() + context.getRemainingTimeInMillis() - 2_000,
      firstLocations,
      locationConcurrency: config.purgeConcurrency,
      listInstalled: (secret) =>
        createOAuthClient({ baseUrl: config.highLevelBaseUrl, ...secret }).installedLocations,
      ...(runTable && { runTable }),
    });
    // Every location that did not finish, unless its token is refused (that needs a person).
    const resumeNext = result.locations
      .filter((location) => location.incomplete && !location.tokenRefused)
      .map((location) => location.locationId);
    await cursor?.leave(cursorName, resumeNext).catch((error: unknown) =>
      logger.error("could not record the locations left for the next run", {
        locations: resumeNext.length,
        error: String(error).slice(0, 300),
      }),
    );
    if (runTable && result.enqueued > 0 && resumeNext.length > 0) {
      await runTable.noteUnreached(result.runId, resumeNext).catch(() => undefined);
    }
    metrics.addMetric(METRIC.purgeLocationsNotReached, MetricUnit.Count, result.notReached.length);
    metrics.addMetric(METRIC.purgeLocationsLeft, MetricUnit.Count, resumeNext.length);
    const { deletions, uploads, ...counts } = result;
    logger.info("purge planned", {
      ...counts,
      locations: counts.locations.length,
      selected: deletions.length,
      resumeNext: resumeNext.length,
    });
    if (resumeNext.length > 0) {
      logger.warn("the purge did not finish every location; its next run starts with them", {
        notReached: result.notReached.length,
        stoppedEarly: resumeNext.length - result.notReached.length,
      });
    }
    return {
      ...counts,
      selected: deletions.length,
      sample: deletions.slice(0, 20),
      protectedSample: uploads.filter((upload) => upload.decision === "protected").slice(0, 20),
      resumeNext,
    };
  };

  return middy(plan)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
