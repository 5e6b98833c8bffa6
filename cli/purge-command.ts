import type { Command } from "commander";
import { createOAuthClient } from "../functions/core/auth/oauth-client.ts";
import { loadPlannerConfig } from "../functions/core/config.ts";
import { MissingTokenError } from "../functions/core/highlevel/token-source.ts";
import { LocationsNotListableError } from "../functions/core/producers/location-discovery.ts";
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
import { emit, progressView, table } from "./output.ts";
import { locationsFromFile, purgeTokens } from "./purge-tokens.ts";
import { dynamoDbClient } from "./run-stores.ts";

interface PurgeFlags {
  location?: string[];
  allLocations?: boolean;
  locationsFile?: string;
  tokenFile?: string;
  secretArn?: string;
  appId?: string;
  concurrency: string;
  quiet?: boolean;
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
    .option("-l, --location <ids...>", "location ids to purge")
    .option(
      "--all-locations",
      "every location the token secret reaches: a token map's keys, an OAuth set's locations and, for an agency install, every location where the app is installed",
    )
    .option(
      "--locations-file <file>",
      "location ids, one per line (or a CSV with a locationId column)",
    )
    .option(
      "--token-file <path>",
      "tokens in any secret shape (a PIT, a map per location, an OAuth set); default $HIGHLEVEL_TOKEN",
    )
    .option("--secret-arn <arn>", "the token secret in Secrets Manager (--stack: the stack's)")
    .option("--app-id <id>", "the Marketplace app's id, when the OAuth secret has none")
    .option("--concurrency <n>", "locations listed at once, each within its own budget", "32")
    .option("--quiet", "no progress on stderr")
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
Name the locations with -l, --locations-file or --all-locations (exactly one). Tokens come
from --token-file, --secret-arn or --stack (the stack's secret: the worker's own tokens), else
HIGHLEVEL_TOKEN (one token: name its locations). A location whose listing fails (401, 5xx
after retries, not active) is reported as incomplete, with why, and the rest goes on (exit 1).
HighLevel deletes an upload's posts with it, scheduled
ones included: by default an upload with a post scheduled after now + 1 h is protected (not
deleted) and reported with its next post; --include-scheduled lifts that, and the dry run then
counts the future posts that would go.

Examples:
  $ HIGHLEVEL_TOKEN=pit-… ghl-csv-purge purge -l ve9EPM428h8vShlRW1KT --older-than 90d --status failed,completed --dry-run
  $ HIGHLEVEL_TOKEN=pit-… QUEUE_URL=… ghl-csv-purge purge -l locA locB --older-than 30d --max-jobs 500
  $ ghl-csv-purge purge --all-locations --stack GhlCsvPurge --older-than 90d --dry-run
  $ ghl-csv-purge purge --locations-file subaccounts.csv --token-file tokens.json --dry-run`,
    )
    .action(async (flags: PurgeFlags) => {
      const json = Boolean(flags.json);
      const concurrency = wholeNumber(flags.concurrency, "--concurrency");
      const locationIds = await chosenLocations(flags);
      const policy = policyFromFlags(flags, locationIds);
      const resolved = await resolveQueueFlags(flags);
      const queueUrl = resolved.queueUrl ?? process.env.QUEUE_URL;
      if (!policy.dryRun && !queueUrl) {
        throw new UsageError("--queue-url is required (or set QUEUE_URL), unless --dry-run");
      }
      if (flags.baseUrl !== undefined) checkBaseUrl(flags.baseUrl);
      const baseUrl =
        flags.baseUrl ?? process.env.HIGHLEVEL_BASE_URL ?? "https://services.leadconnectorhq.com";
      const { tokens, from: tokensFrom } = await purgeTokens(
        flags,
        flags.stack ? resolved.tokenSecretArn : undefined,
        baseUrl,
      );
      const sqs = sqsClientFor(flags, queueUrl);
      if (!policy.dryRun && queueUrl) await checkQueue(sqs, queueUrl, flags, "the jobs queue");
      const config = loadPlannerConfig({
        ...process.env,
        HIGHLEVEL_TOKEN_SECRET_ARN: "",
        HIGHLEVEL_TOKEN: "from-the-token-source",
        QUEUE_URL: queueUrl ?? "http://dry-run.invalid/queue",
        HIGHLEVEL_BASE_URL: baseUrl,
        // The stack's table: the fleet's rate budgets, and the run's record.
        ...(resolved.coordinationTable && { COORDINATION_TABLE: resolved.coordinationTable }),
      });
      const counted = { calls: 0, throttled: 0 };
      // The coordination table's client honours --region and --profile, as every AWS client here.
      const dynamoDb = config.coordinationTable ? await dynamoDbClient(flags) : undefined;
      const runtime = createHighLevelRuntime(config, {
        ...(dynamoDb && { dynamoDb: async () => dynamoDb }),
        sqs,
        tokens,
        onAnswer: (status) => {
          counted.calls += 1;
          if (status === 429) counted.throttled += 1;
        },
      });
      const runTable = createRunTable(config, dynamoDb ? { dynamoDb: async () => dynamoDb } : {});
      const view = progressView("planning", { json, quiet: Boolean(flags.quiet) });
      let plan: PurgePlan;
      try {
        plan = await planPurge(policy, {
          ...runtime,
          sqs: await runtime.sqs(),
          queueUrl: config.queueUrl,
          deadline: Date.now() + 15 * 60_000,
          locationConcurrency: concurrency,
          listInstalled: (secret) => createOAuthClient({ baseUrl, ...secret }).installedLocations,
          ...(flags.appId && { appId: flags.appId }),
          ...(runTable && { runTable }),
          onProgress: (p) =>
            view.update(p.locationsDone, p.locations, {
              uploads: p.uploadsSeen,
              calls: counted.calls,
              "429s": counted.throttled,
              ...(p.incomplete && { incomplete: p.incomplete }),
            }),
        });
      } catch (error) {
        if (error instanceof LocationsNotListableError) throw new UsageError(error.message);
        if (error instanceof MissingTokenError) throw new OperationalError(error.message);
        throw error;
      } finally {
        view.stop();
      }
      const perLocation = plan.locations
        .map(
          (l) =>
            `${l.locationId}: ${l.selected} to delete, ${l.protected} protected${l.leftOut ? `, ${l.leftOut} left out by --max-jobs` : ""} (of ${l.listed} listed)${l.incomplete ? ` — listing stopped: ${l.incomplete}` : ""}`,
        )
        .join("\n");
      const t = plan.totals;
      const found = plan.discovered;
      const totals = [
        ...(found
          ? [
              `locations from the token secret: ${plan.locations.length} (token map ${found.from.tokenMap}, OAuth locations ${found.from.oauthLocations}, agency installs ${found.from.agencyInstalls}${found.notInstalled ? `; ${found.notInstalled} not installed, left out` : ""})`,
            ]
          : []),
        `HighLevel calls ${counted.calls}, 429s ${counted.throttled}`,
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
          `HighLevel refused the token for ${refused
            .slice(0, 5)
            .map((l) => l.locationId)
            .join(
              ", ",
            )}${refused.length > 5 ? ` and ${refused.length - 5} more` : ""} (${refused[0]?.incomplete}): check the token from ${tokensFrom} — it must belong to the location (or its agency) and have the socialplanner/csv scopes`,
        );
      }
      const incomplete = plan.locations.filter((l) => l.incomplete);
      if (incomplete.length > 0) {
        throw new OperationalError(
          `${incomplete.length} of ${plan.locations.length} location(s) incomplete (${incomplete[0]?.locationId}: ${incomplete[0]?.incomplete}); the rest is planned — run again to plan those`,
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

/** Exactly one of -l, --locations-file, --all-locations. */
async function chosenLocations(flags: PurgeFlags): Promise<string[] | "all"> {
  const given = [flags.location, flags.locationsFile, flags.allLocations].filter(Boolean).length;
  if (given !== 1) {
    throw new UsageError(
      "name the locations with exactly one of -l <ids…>, --locations-file <file> or --all-locations",
    );
  }
  if (flags.allLocations) return "all";
  if (flags.locationsFile) return locationsFromFile(flags.locationsFile);
  return flags.location ?? [];
}

function policyFromFlags(flags: PurgeFlags, locationIds: string[] | "all") {
  try {
    return parsePurgePolicy({
      locationIds,
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
