import type { Command } from "commander";
import { loadPlannerConfig } from "../functions/core/config.ts";
import { planPurge } from "../functions/core/producers/purge-planner.ts";
import {
  CSV_STATUSES,
  InvalidPurgePolicyError,
  parseAge,
  parsePurgePolicy,
} from "../functions/core/producers/purge-policy.ts";
import { createHighLevelRuntime } from "../functions/core/worker/worker-runtime.ts";
import { AWS_FLAG_HELP, checkQueue, resolveQueueFlags, sqsClientFor } from "./aws-clients.ts";
import { OperationalError, UsageError } from "./errors.ts";
import { wholeNumber } from "./flags.ts";
import { emit, table } from "./output.ts";

interface PurgeFlags {
  location: string[];
  olderThan: string;
  status?: string;
  maxJobs: string;
  dryRun?: boolean;
  queueUrl?: string;
  stack?: string;
  endpointUrl?: string;
  region?: string;
  profile?: string;
  baseUrl?: string;
  reason: string;
  json?: boolean;
}

export function registerPurgeCommand(program: Command): void {
  program
    .command("purge")
    .description(
      "List locations' uploads and enqueue the deletion of those a policy selects (the scheduled planner, from a terminal)",
    )
    .requiredOption("-l, --location <ids...>", "location ids to purge")
    .option("--older-than <age>", "only uploads created before this age (30d, 12h, 2w)", "30d")
    .option(
      "--status <list>",
      `only these statuses, comma-separated (${CSV_STATUSES.filter((s) => s !== "deleted").join(", ")})`,
    )
    .option("--max-jobs <n>", "at most this many deletions", "10000")
    .option("--dry-run", "print the plan; enqueue nothing")
    .option("--reason <text>", "the reason recorded on each job", "purge from the CLI")
    .option("--queue-url <url>", "the jobs queue (default: $QUEUE_URL)")
    .option("--stack <name>", "read the queue URL from a deployed stack's outputs")
    .option("--endpoint-url <url>", "SQS endpoint (default: $AWS_ENDPOINT_URL_SQS)")
    .option("--region <region>", AWS_FLAG_HELP.region)
    .option("--profile <name>", AWS_FLAG_HELP.profile)
    .option(
      "--base-url <url>",
      "HighLevel API origin (default: $HIGHLEVEL_BASE_URL or the production API)",
    )
    .option("--json", "print the plan as JSON on stdout")
    .addHelpText(
      "after",
      `
The token comes from HIGHLEVEL_TOKEN.

Examples:
  $ HIGHLEVEL_TOKEN=pit-… ghl-csv-purge purge -l ve9EPM428h8vShlRW1KT --older-than 90d --status failed,completed --dry-run
  $ HIGHLEVEL_TOKEN=pit-… QUEUE_URL=… ghl-csv-purge purge -l locA locB --older-than 30d --max-jobs 500`,
    )
    .action(async (flags: PurgeFlags) => {
      const json = Boolean(flags.json);
      const policy = policyFromFlags(flags);
      const queueUrl = (await resolveQueueFlags(flags)).queueUrl ?? process.env.QUEUE_URL;
      if (!policy.dryRun && !queueUrl) {
        throw new UsageError("--queue-url is required (or set QUEUE_URL), unless --dry-run");
      }
      if (!process.env.HIGHLEVEL_TOKEN?.trim()) {
        throw new UsageError("set HIGHLEVEL_TOKEN to the HighLevel token of the location(s)");
      }
      if (flags.baseUrl !== undefined) checkBaseUrl(flags.baseUrl);
      const sqs = sqsClientFor(flags, queueUrl);
      if (!policy.dryRun && queueUrl) await checkQueue(sqs, queueUrl, flags, "the jobs queue");
      const config = loadPlannerConfig({
        ...process.env,
        HIGHLEVEL_TOKEN_SECRET_ARN: "",
        QUEUE_URL: queueUrl ?? "http://dry-run.invalid/queue",
        ...(flags.baseUrl && { HIGHLEVEL_BASE_URL: flags.baseUrl }),
      });
      const runtime = createHighLevelRuntime(config, { sqs });
      const plan = await planPurge(policy, {
        ...runtime,
        sqs: await runtime.sqs(),
        queueUrl: config.queueUrl,
        deadline: Date.now() + 15 * 60_000,
      });
      const rows: Array<Array<string | number>> = [
        ["locationId", "csvId", "status", "createdAt", "fileName"],
        ...plan.deletions.map((d) => [
          d.locationId,
          d.csvId,
          d.status ?? "",
          d.createdAt ?? "",
          d.fileName ?? "",
        ]),
      ];
      const perLocation = plan.locations
        .map(
          (l) =>
            `${l.locationId}: ${l.selected} of ${l.listed} selected${l.incomplete ? ` (listing stopped: ${l.incomplete})` : ""}`,
        )
        .join("\n");
      const text = plan.dryRun
        ? `${table(rows)}\n\n${perLocation}\ndry run: ${plan.deletions.length} deletion(s) planned, nothing enqueued`
        : `${perLocation}\nenqueued ${plan.enqueued} deletion(s)${plan.notEnqueued ? `, ${plan.notEnqueued} NOT enqueued` : ""}`;
      emit(json, plan, text);
      if (plan.notEnqueued > 0) {
        throw new OperationalError(
          `${plan.notEnqueued} deletion(s) could not be enqueued: ${plan.notEnqueuedBecause ?? "unknown reason"}`,
        );
      }
      const refused = plan.locations.filter((l) => l.tokenRefused);
      if (refused.length > 0) {
        throw new OperationalError(
          `HighLevel refused the token for ${refused.map((l) => l.locationId).join(", ")} (${refused[0]?.incomplete}): check HIGHLEVEL_TOKEN — it must belong to the location (or its agency) and have the socialplanner/csv scopes`,
        );
      }
      if (plan.locations.some((l) => l.incomplete)) {
        throw new OperationalError(
          "listing stopped early for some locations; run again to plan the rest",
        );
      }
    });
}

function checkBaseUrl(raw: string): void {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(
      `--base-url must be a URL such as https://services.leadconnectorhq.com, got "${raw}"`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UsageError(`--base-url must be an http(s) URL, got "${raw}"`);
  }
}

function policyFromFlags(flags: PurgeFlags) {
  try {
    return parsePurgePolicy({
      locationIds: flags.location,
      olderThanDays: parseAge(flags.olderThan),
      ...(flags.status && {
        statuses: flags.status
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
      }),
      maxJobs: wholeNumber(flags.maxJobs, "--max-jobs"),
      dryRun: Boolean(flags.dryRun),
      reason: flags.reason,
    });
  } catch (error) {
    if (error instanceof InvalidPurgePolicyError) throw new UsageError(error.message);
    throw error;
  }
}
