import type { SQSClient } from "@aws-sdk/client-sqs";
import { bodyConfirmsSuccess, type CsvUpload, readCsvListPage } from "../highlevel/csv-answer.ts";
import type { HighLevelClient } from "../highlevel/highlevel-client.ts";
import type { TokenSource } from "../highlevel/token-source.ts";
import type { DeletionJob } from "./deletion-job.ts";
import { type EnqueueReport, enqueueDeletions } from "./enqueue.ts";
import type { PurgePolicy } from "./purge-policy.ts";

export interface PlannedDeletion {
  locationId: string;
  csvId: string;
  status: string | undefined;
  createdAt: string | undefined;
  fileName: string | undefined;
}

export interface LocationPlan {
  locationId: string;
  listed: number;
  selected: number;
  /** Why listing stopped early, if it did (the rest is planned on the next run). */
  incomplete?: string;
  /** HighLevel refused the token (401/403): running again will not help until it is fixed. */
  tokenRefused?: boolean;
}

export interface PurgePlan {
  dryRun: boolean;
  locations: LocationPlan[];
  deletions: PlannedDeletion[];
  enqueued: number;
  notEnqueued: number;
  /** Why the first of the deletions not enqueued could not be sent. */
  notEnqueuedBecause?: string;
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
}

/**
 * Lists each location's uploads page by page (paced by the same rate pacer as the worker),
 * keeps those the policy selects — old enough, in an allowed status, never `deleted` — and
 * enqueues their deletion, unless it is a dry run.
 *
 * @example
 * const plan = await planPurge({ locationIds: ["ve9EPM428h8vShlRW1KT"], olderThanDays: 30, statuses: ["failed"], maxJobs: 500, dryRun: true, reason: "retention" }, deps);
 */
export async function planPurge(policy: PurgePolicy, deps: PurgeDeps): Promise<PurgePlan> {
  const now = deps.now?.() ?? Date.now();
  const cutoff = now - policy.olderThanDays * 24 * 3600 * 1000;
  const pageSize = deps.pageSize ?? 100;
  const plan: PurgePlan = {
    dryRun: policy.dryRun,
    locations: [],
    deletions: [],
    enqueued: 0,
    notEnqueued: 0,
  };

  for (const locationId of policy.locationIds) {
    const location: LocationPlan = { locationId, listed: 0, selected: 0 };
    plan.locations.push(location);
    const token = await deps.tokens.tokenFor(locationId);
    for (let skip = 0; plan.deletions.length < policy.maxJobs; skip += pageSize) {
      const answer = await deps.client.listCsvs(
        locationId,
        { skip, limit: pageSize },
        { token, deadline: deps.deadline },
      );
      const listed =
        answer.kind === "answered" &&
        answer.status >= 200 &&
        answer.status < 300 &&
        answer.bodyState === "complete" &&
        bodyConfirmsSuccess(answer.body);
      if (!listed) {
        if (answer.kind === "answered" && (answer.status === 401 || answer.status === 403)) {
          location.tokenRefused = true;
        }
        location.incomplete =
          answer.kind === "answered"
            ? `HighLevel answered ${answer.status}${answer.message ? `: ${answer.message}` : " without a usable list"}`
            : answer.kind === "paced-out"
              ? "the rate budget ran out before the listing finished"
              : answer.detail;
        break;
      }
      const page = readCsvListPage(answer.body);
      location.listed += page.csvs.length;
      for (const upload of page.csvs) {
        if (plan.deletions.length >= policy.maxJobs) break;
        if (!selects(policy, upload, cutoff)) continue;
        location.selected += 1;
        plan.deletions.push({
          locationId,
          csvId: upload._id,
          status: upload.status,
          createdAt: upload.createdAt,
          fileName: upload.fileName,
        });
      }
      const reachedEnd =
        page.csvs.length < pageSize || (page.total !== undefined && skip + pageSize >= page.total);
      if (reachedEnd) break;
    }
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
    });
    plan.enqueued = report.sent;
    plan.notEnqueued = report.failed + report.invalid;
    const firstFailure = report.results.find(
      (r) => r.status === "failed" || r.status === "invalid",
    );
    if (firstFailure && "error" in firstFailure) plan.notEnqueuedBecause = firstFailure.error;
  }
  return plan;
}

function selects(policy: PurgePolicy, upload: CsvUpload, cutoff: number): boolean {
  if (upload.status === "deleted") return false;
  if (policy.statuses && !policy.statuses.includes(upload.status as never)) return false;
  const created = upload.createdAt ? Date.parse(upload.createdAt) : Number.NaN;
  // An upload without a readable creation date is never old enough to delete.
  return Number.isFinite(created) && created < cutoff;
}
