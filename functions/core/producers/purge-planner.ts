import type { SQSClient } from "@aws-sdk/client-sqs";
import pLimit from "p-limit";
import type { OAuthSecret } from "../auth/token-secret.ts";
import {
  bodyConfirmsSuccess,
  type CsvUpload,
  readCsvListPage,
  readCsvUpload,
} from "../highlevel/csv-answer.ts";
import type { HighLevelClient } from "../highlevel/highlevel-client.ts";
import type { TokenSource } from "../highlevel/token-source.ts";
import { purgeRunId } from "../runs/run-id.ts";
import type { RunTable } from "../runs/run-table.ts";
import type { DeletionJob } from "./deletion-job.ts";
import { type EnqueueReport, enqueueDeletions } from "./enqueue.ts";
import {
  type DiscoveredLocations,
  type ListInstalled,
  locationsOfSecret,
} from "./location-discovery.ts";
import type { PurgePolicy } from "./purge-policy.ts";

export interface PlannedDeletion {
  locationId: string;
  csvId: string;
  status: string | undefined;
  createdAt: string | undefined;
  fileName: string | undefined;
}

/** An upload's posts, as the planner counted them: all of them, those still to be published. */
export interface PostCounts {
  total: number;
  /** Scheduled after now + the margin (or with a date that cannot be read: counted as future). */
  future: number;
  past: number;
  /** The earliest future post's time, if any. */
  nextScheduled: string | undefined;
}

export type UploadDecision = "delete" | "protected" | "skipped" | "left-out";

/** One upload old enough to be considered, with what the plan does with it and why. */
export interface PlannedUpload extends PlannedDeletion {
  decision: UploadDecision;
  /** Why it is protected, skipped or left out. */
  why?: string;
  /** Its posts, when they were read (every delete and protected decision reads them). */
  posts?: PostCounts;
}

export interface LocationPlan {
  locationId: string;
  listed: number;
  selected: number;
  protected: number;
  leftOut: number;
  /** Why listing stopped early, if it did (the rest is planned on the next run). */
  incomplete?: string;
  /** HighLevel refused the token (401/403): running again will not help until it is fixed. */
  tokenRefused?: boolean;
}

/** The blast radius of a plan, summed over its locations. */
export interface PurgeTotals {
  listed: number;
  /** Created after the age cut-off: not considered. */
  tooRecent: number;
  delete: number;
  protected: number;
  skipped: number;
  /** Would have been considered, but the run's `maxJobs` cap was reached first. */
  leftOut: number;
  /** Posts the deletions remove with their uploads. */
  postsRemoved: number;
  /** Of those, posts still to be published (only with `protectScheduledPosts: false`). */
  futurePostsRemoved: number;
}

export interface PurgePlan {
  /** The run its deletions belong to (`runs show`, `report`); a dry run names the one it would use. */
  runId: string;
  dryRun: boolean;
  locations: LocationPlan[];
  /** Every upload old enough to be considered, with its decision. */
  uploads: PlannedUpload[];
  /** The uploads whose decision is `delete`: the jobs enqueued (or that would be). */
  deletions: PlannedDeletion[];
  totals: PurgeTotals;
  enqueued: number;
  notEnqueued: number;
  /** Why the first of the deletions not enqueued could not be sent. */
  notEnqueuedBecause?: string;
  /** The run's record could not be written (the jobs were enqueued all the same). */
  runRecordError?: string;
  /** Locations not started before the deadline (also `incomplete` in `locations`). */
  notReached: string[];
  /** With `locationIds: "all"`: where the locations came from. */
  discovered?: Omit<DiscoveredLocations, "locationIds">;
}

export interface PurgeDeps {
  client: HighLevelClient;
  tokens: TokenSource;
  sqs: SQSClient;
  queueUrl: string;
  now?: () => number;
  /** Epoch ms by which listing must stop (the invocation's deadline). */
  deadline: number;
  pageSize?: number;
  /** Posts read per `GET …/csv/:id` page. */
  postPageSize?: number;
  /** The run id of the deletions; default `purge-<policy.runName or cli>-<UTC time>`. */
  runId?: string;
  /** Where the run is recorded (its total once enqueued); without it jobs still carry the id. */
  runTable?: RunTable;
  /** Locations listed at once, each paced within its own budget. Default 32. */
  locationConcurrency?: number;
  /** Posts reads at once within one location. Default 5. */
  readConcurrency?: number;
  /** Locations to plan first: those an earlier run did not reach (the planner's resume). */
  firstLocations?: string[];
  /** `locationIds: "all"` with an agency install: lists the app's installed locations. */
  listInstalled?: (secret: OAuthSecret) => ListInstalled;
  /** The app id for `installedLocations`, when the secret has none. */
  appId?: string;
  onProgress?: (progress: PurgeProgress) => void;
}

export interface PurgeProgress {
  locations: number;
  locationsDone: number;
  uploadsSeen: number;
  incomplete: number;
}

/** Locations listed at once: at 200–300 ms answers 300 locations (6,300 calls) plan in ~14 s (bench). */
export const DEFAULT_LOCATION_CONCURRENCY = 32;
export const DEFAULT_READ_CONCURRENCY = 5;
/** No location is started with less than this left before the deadline. */
const LOCATION_START_MARGIN_MS = 3_000;
/** Why a location was not planned: the run ran out of time first (the next run starts with it). */
export const NOT_REACHED = "not reached before the run's time limit";

/**
 * Lists each location's uploads page by page and decides, for each one old enough, whether
 * the purge deletes it. HighLevel deletes an upload's posts with it, scheduled ones included,
 * so before an upload is planned for deletion its posts are read (`GET …/csv/:id`, paged):
 * with `protectScheduledPosts` an upload with a post still to be published is protected.
 * Every call is paced by the same rate budget as the worker. Then, unless it is a dry run,
 * the deletions are enqueued.
 *
 * @example
 * const plan = await planPurge(parsePurgePolicy({ locationIds: ["ve9EPM428h8vShlRW1KT"], dryRun: true }), deps);
 * plan.totals // { delete: 12, protected: 3, … }
 */
export async function planPurge(policy: PurgePolicy, deps: PurgeDeps): Promise<PurgePlan> {
  const now = deps.now?.() ?? Date.now();
  const cutoff = now - policy.olderThanDays * 24 * 3600 * 1000;
  const futureAfter = now + policy.scheduledPostMarginMinutes * 60_000;
  const pageSize = deps.pageSize ?? 100;
  const plan: PurgePlan = {
    runId: deps.runId ?? purgeRunId(policy.runName ?? "cli", new Date(now)),
    dryRun: policy.dryRun,
    locations: [],
    uploads: [],
    deletions: [],
    totals: {
      listed: 0,
      tooRecent: 0,
      delete: 0,
      protected: 0,
      skipped: 0,
      leftOut: 0,
      postsRemoved: 0,
      futurePostsRemoved: 0,
    },
    enqueued: 0,
    notEnqueued: 0,
    notReached: [],
  };
  const statuses = new Set<string>(policy.statuses);
  let admitted = 0;

  const locationIds = await resolveLocations(policy, deps, plan);
  const byLocation = new Map<string, { uploads: PlannedUpload[]; deletions: PlannedDeletion[] }>();
  for (const locationId of locationIds) {
    byLocation.set(locationId, { uploads: [], deletions: [] });
    plan.locations.push({ locationId, listed: 0, selected: 0, protected: 0, leftOut: 0 });
  }
  const locationPlans = new Map(plan.locations.map((location) => [location.locationId, location]));
  // Uploads being read for a possible deletion: they hold a place under `maxJobs` until decided.
  let reserved = 0;
  let locationsDone = 0;
  let uploadsSeen = 0;
  const progress = () =>
    deps.onProgress?.({
      locations: locationIds.length,
      locationsDone,
      uploadsSeen,
      incomplete: plan.locations.filter((l) => l.incomplete).length,
    });
  const startBy = deps.deadline - LOCATION_START_MARGIN_MS;
  const limitLocations = pLimit(deps.locationConcurrency ?? DEFAULT_LOCATION_CONCURRENCY);
  await Promise.all(
    locationIds.map((locationId) =>
      limitLocations(async () => {
        const location = locationPlans.get(locationId) as LocationPlan;
        if (Date.now() > startBy) {
          location.incomplete = NOT_REACHED;
          plan.notReached.push(locationId);
        } else {
          await planLocation(location).catch((error: unknown) => {
            // A token that cannot be had (not installed, no entry) fails this location alone.
            location.incomplete = error instanceof Error ? error.message : String(error);
          });
        }
        locationsDone += 1;
        progress();
      }),
    ),
  );
  // Input order, whatever order the locations finished in.
  for (const locationId of locationIds) {
    const found = byLocation.get(locationId);
    plan.uploads.push(...(found?.uploads ?? []));
    plan.deletions.push(...(found?.deletions ?? []));
  }

  async function planLocation(location: LocationPlan): Promise<void> {
    const { locationId } = location;
    const token = await deps.tokens.tokenFor(locationId);
    const context = { token, deadline: deps.deadline };
    const limitReads = pLimit(deps.readConcurrency ?? DEFAULT_READ_CONCURRENCY);
    const found = byLocation.get(locationId) as { uploads: PlannedUpload[] };
    for (let skip = 0; ; skip += pageSize) {
      const answer = await deps.client.listCsvs(locationId, { skip, limit: pageSize }, context);
      const listed = usableBody(answer);
      if (!listed) {
        if (answer.kind === "answered" && (answer.status === 401 || answer.status === 403)) {
          location.tokenRefused = true;
        }
        location.incomplete = describeFailure(answer, "the listing");
        break;
      }
      const page = readCsvListPage(listed.body);
      location.listed += page.csvs.length;
      plan.totals.listed += page.csvs.length;
      uploadsSeen += page.csvs.length;
      const decided = await Promise.all(page.csvs.map((upload) => decide(upload)));
      for (const upload of decided) {
        if (!upload) continue;
        found.uploads.push(upload);
        count(location, upload);
      }
      progress();
      const reachedEnd =
        page.csvs.length < pageSize || (page.total !== undefined && skip + pageSize >= page.total);
      if (reachedEnd) break;
    }

    /** The decision for one listed upload; undefined for those never considered. */
    async function decide(upload: CsvUpload): Promise<PlannedUpload | undefined> {
      const created = upload.createdAt ? Date.parse(upload.createdAt) : Number.NaN;
      if (upload.status === "deleted") return undefined;
      if (!Number.isFinite(created) || created >= cutoff) {
        plan.totals.tooRecent += 1;
        return undefined;
      }
      const base: PlannedDeletion = {
        locationId,
        csvId: upload._id,
        status: upload.status,
        createdAt: upload.createdAt,
        fileName: upload.fileName,
      };
      if (!upload.status || !statuses.has(upload.status)) {
        return {
          ...base,
          decision: "skipped",
          why: `status ${upload.status ?? "unknown"} not selected (statuses: ${policy.statuses.join(", ")})`,
        };
      }
      if (admitted + reserved >= policy.maxJobs) {
        return {
          ...base,
          decision: "left-out",
          why: `the maxJobs cap (${policy.maxJobs}) was reached`,
        };
      }
      reserved += 1;
      try {
        const posts = await limitReads(() => countPosts(locationId, upload._id, context));
        if (!posts.ok) {
          return policy.protectScheduledPosts
            ? { ...base, decision: "skipped", why: `its posts could not be read: ${posts.why}` }
            : admit({ ...base, decision: "delete", why: `posts not read: ${posts.why}` });
        }
        if (policy.protectScheduledPosts && posts.counts.future > 0) {
          return {
            ...base,
            decision: "protected",
            why: `${posts.counts.future} post(s) still scheduled, the next at ${posts.counts.nextScheduled ?? "an unreadable time"}`,
            posts: posts.counts,
          };
        }
        return admit({ ...base, decision: "delete", posts: posts.counts });
      } finally {
        reserved -= 1;
      }
    }
  }

  function admit(upload: PlannedUpload): PlannedUpload {
    const { decision: _, why: __, posts, ...deletion } = upload;
    admitted += 1;
    byLocation.get(upload.locationId)?.deletions.push(deletion);
    plan.totals.postsRemoved += posts?.total ?? 0;
    plan.totals.futurePostsRemoved += posts?.future ?? 0;
    return upload;
  }

  function count(location: LocationPlan, upload: PlannedUpload): void {
    if (upload.decision === "delete") {
      location.selected += 1;
      plan.totals.delete += 1;
    } else if (upload.decision === "protected") {
      location.protected += 1;
      plan.totals.protected += 1;
    } else if (upload.decision === "left-out") {
      location.leftOut += 1;
      plan.totals.leftOut += 1;
    } else {
      plan.totals.skipped += 1;
    }
  }

  /** Reads every page of an upload's posts and counts those still to be published. */
  async function countPosts(
    locationId: string,
    csvId: string,
    context: { token: string; deadline: number },
  ): Promise<{ ok: true; counts: PostCounts } | { ok: false; why: string }> {
    const limit = deps.postPageSize ?? 100;
    const counts: PostCounts = { total: 0, future: 0, past: 0, nextScheduled: undefined };
    for (let skip = 0; ; skip += limit) {
      const answer = await deps.client.getCsv(locationId, csvId, context, { skip, limit });
      const read = usableBody(answer);
      if (!read) return { ok: false, why: describeFailure(answer, "the read") };
      const page = readCsvUpload(read.body);
      for (const post of page.posts) {
        counts.total += 1;
        const at = post.scheduleDate ? Date.parse(post.scheduleDate) : Number.NaN;
        // A date that cannot be read might be tomorrow: it counts as future, never as past.
        if (Number.isFinite(at) && at <= futureAfter) {
          counts.past += 1;
          continue;
        }
        counts.future += 1;
        if (
          Number.isFinite(at) &&
          (!counts.nextScheduled || at < Date.parse(counts.nextScheduled))
        ) {
          counts.nextScheduled = new Date(at).toISOString();
        }
      }
      const reachedEnd =
        page.posts.length < limit || (page.count !== undefined && skip + limit >= page.count);
      if (reachedEnd) break;
    }
    return { ok: true, counts };
  }

  if (!policy.dryRun && plan.deletions.length > 0) {
    const jobs: DeletionJob[] = plan.deletions.map(({ locationId, csvId }) => ({
      locationId,
      csvId,
      reason: policy.reason,
      requestedBy: "plan-purge",
    }));
    const report: EnqueueReport = await enqueueDeletions(jobs, {
      queueUrl: deps.queueUrl,
      client: deps.sqs,
      runId: plan.runId,
      runSource: "purge",
      ...(deps.runTable && { coordinationTable: deps.runTable }),
    });
    if (report.runRecordError) plan.runRecordError = report.runRecordError;
    plan.enqueued = report.sent;
    plan.notEnqueued = report.failed + report.invalid;
    const firstFailure = report.results.find(
      (r) => r.status === "failed" || r.status === "invalid",
    );
    if (firstFailure && "error" in firstFailure) plan.notEnqueuedBecause = firstFailure.error;
  }
  return plan;
}

/**
 * The policy's locations: its list, or (`"all"`) every location the token secret reaches;
 * those an earlier run did not reach go first.
 */
async function resolveLocations(
  policy: PurgePolicy,
  deps: PurgeDeps,
  plan: PurgePlan,
): Promise<string[]> {
  let ids: string[];
  if (policy.locationIds === "all") {
    const { locationIds, ...discovered } = await locationsOfSecret(await deps.tokens.secret(), {
      ...(deps.listInstalled && { listInstalled: deps.listInstalled }),
      ...(deps.appId && { appId: deps.appId }),
    });
    plan.discovered = discovered;
    ids = locationIds;
  } else {
    ids = [...new Set(policy.locationIds)];
  }
  const first = (deps.firstLocations ?? []).filter((id) => ids.includes(id));
  const firstSet = new Set(first);
  return [...first, ...ids.filter((id) => !firstSet.has(id))];
}

type Answer = Awaited<ReturnType<HighLevelClient["listCsvs"]>>;

/** The body of a 2xx that arrived whole and does not say it failed; undefined otherwise. */
function usableBody(answer: Answer): { body: unknown } | undefined {
  const usable =
    answer.kind === "answered" &&
    answer.status >= 200 &&
    answer.status < 300 &&
    answer.bodyState === "complete" &&
    bodyConfirmsSuccess(answer.body);
  return usable ? { body: answer.body } : undefined;
}

function describeFailure(answer: Answer, what: string): string {
  if (answer.kind === "answered") {
    return `HighLevel answered ${answer.status}${answer.message ? `: ${answer.message}` : " without a usable answer"}`;
  }
  if (answer.kind === "paced-out") return `the rate budget ran out before ${what} finished`;
  return answer.detail;
}
