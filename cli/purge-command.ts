import type { Command } from "commander";
import { loadPlannerConfig } from "../functions/core/config.ts";
import { type PurgePlan, planPurge } from "../functions/core/producers/purge-planner.ts";
import {
  DEFAULT_PURGE_STATUSES,
  InvalidPurgePolicyError,
  PURGEABLE_STATUSES,
  parseAge,
  parsePurgePolicy,
} from "../functions/core/producers/purge-policy.ts";
import { createHighLevelRuntime, createRunTable } from "../functions/core/worker/worker-runtime.ts";
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
  includeScheduled?: boolean;
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
      `only these statuses, comma-separated: ${PURGEABLE_STATUSES.join(", ")} (default: ${DEFAULT_PURGE_STATUSES.join(",")})`,
    )
    .option(
      "--max-jobs <n>",
      "a safety cap: at most this many deletions; the plan says how many more matched",
      "10000",
    )
    .option(
      "--include-scheduled",
      "also delete uploads with posts still scheduled (deleting an upload deletes its posts)",
    )
    .option(
      "--dry-run",
      "print the blast radius (every upload, its posts, the decision); enqueue nothing",
    )
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
The token comes from HIGHLEVEL_TOKEN. HighLevel deletes an upload's posts with it, scheduled
ones included: by default an upload with a post scheduled after now + 1 h is protected (not
deleted) and reported with its next post; --include-scheduled lifts that, and the dry run then
counts the future posts that would go.

Examples:
  $ HIGHLEVEL_TOKEN=pit-… ghl-csv-purge purge -l ve9EPM428h8vShlRW1KT --older-than 90d --status failed,completed --dry-run
  $ HIGHLEVEL_TOKEN=pit-… QUEUE_URL=… ghl-csv-purge purge -l locA locB --older-than 30d --max-jobs 500`,
    )
    .action(async (flags: PurgeFlags) => {
      const json = Boolean(flags.json);
      const policy = policyFromFlags(flags);
      const resolved = await resolveQueueFlags(flags);
      const queueUrl = resolved.queueUrl ?? process.env.QUEUE_URL;
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
        // The stack's table: the fleet's rate budgets, and the run's record.
        ...(resolved.coordinationTable && { COORDINATION_TABLE: resolved.coordinationTable }),
        ...(flags.baseUrl && { HIGHLEVEL_BASE_URL: flags.baseUrl }),
      });
      const runtime = createHighLevelRuntime(config, { sqs });
      const runTable = createRunTable(config);
      const plan = await planPurge(policy, {
        ...runtime,
        sqs: await runtime.sqs(),
        queueUrl: config.queueUrl,
        deadline: Date.now() + 15 * 60_000,
        ...(runTable && { runTable }),
      });
      const perLocation = plan.locations
        .map(
          (l) =>
            `${l.locationId}: ${l.selected} to delete, ${l.protected} protected${l.leftOut ? `, ${l.leftOut} left out by --max-jobs` : ""} (of ${l.listed} listed)${l.incomplete ? ` — listing stopped: ${l.incomplete}` : ""}`,
        )
        .join("\n");
      const t = plan.totals;
      const totals = [
        `uploads listed ${t.listed}; too recent ${t.tooRecent}; to delete ${t.delete}; protected ${t.protected}; skipped ${t.skipped}; left out ${t.leftOut}`,
        `posts removed with them: ${t.postsRemoved}${t.futurePostsRemoved ? `, of which ${t.futurePostsRemoved} still scheduled (--include-scheduled)` : ", none still scheduled"}`,
      ].join("\n");
      const text = plan.dryRun
        ? `${blastRadius(plan)}\n\n${perLocation}\n${totals}\ndry run: nothing enqueued`
        : `${perLocation}\n${totals}\nenqueued ${plan.enqueued} deletion(s)${plan.notEnqueued ? `, ${plan.notEnqueued} NOT enqueued` : ""}${plan.enqueued ? `\nrun ${plan.runId}: follow it with \`ghl-csv-purge runs show ${plan.runId} --watch\`, then \`ghl-csv-purge report ${plan.runId}\`${runTable ? "" : " (not recorded: no coordination table; give --stack or set COORDINATION_TABLE)"}` : ""}${plan.runRecordError ? `\nwarning: ${plan.runRecordError}` : ""}`;
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

/** One row per upload considered: what it is, its posts, and what the purge does with it. */
function blastRadius(plan: PurgePlan): string {
  const rows: Array<Array<string | number>> = [
    ["locationId", "csvId", "fileName", "status", "created", "posts", "future", "decision"],
    ...plan.uploads.map((u) => [
      u.locationId,
      u.csvId,
      u.fileName ?? "",
      u.status ?? "",
      u.createdAt?.slice(0, 10) ?? "",
      u.posts ? u.posts.total : "?",
      u.posts ? u.posts.future : "?",
      u.why ? `${u.decision}: ${u.why}` : u.decision,
    ]),
  ];
  return table(rows);
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
      protectScheduledPosts: !flags.includeScheduled,
      dryRun: Boolean(flags.dryRun),
      reason: flags.reason,
    });
  } catch (error) {
    if (error instanceof InvalidPurgePolicyError) throw new UsageError(error.message);
    throw error;
  }
}
