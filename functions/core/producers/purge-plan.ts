import type { DiscoveredLocations } from "./location-discovery.ts";

/* What a purge plan is made of: its uploads, decisions, locations and totals. */

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
