import * as v from "valibot";
import { HIGHLEVEL_ID_PATTERN } from "./deletion-job.ts";

export const CSV_STATUSES = [
  "pending",
  "in_progress",
  "completed",
  "failed",
  "in_review",
  "importing",
  "deleted",
] as const;

/** Statuses a purge may name: every one but `deleted` (those uploads are gone already). */
export const PURGEABLE_STATUSES = CSV_STATUSES.filter((status) => status !== "deleted");

/**
 * Statuses a purge deletes unless told otherwise: finished imports. HighLevel refuses to delete
 * `importing` and `in_progress` uploads, and `pending` / `in_review` ones are still being worked
 * on; they are purged only when named.
 */
export const DEFAULT_PURGE_STATUSES = ["completed", "failed"] as const;

/** Which uploads a scheduled (or `ghl-csv-purge purge`) run deletes. */
export const PurgePolicySchema = v.object({
  /** The locations, or "all": every location the token secret reaches (DESIGN.md). */
  locationIds: v.union(
    [
      v.literal("all"),
      v.pipe(
        v.array(
          v.pipe(
            v.string(),
            v.regex(HIGHLEVEL_ID_PATTERN, "may contain only letters, digits, '_' and '-'"),
          ),
          'must be a list of location ids, or "all"',
        ),
        v.minLength(1, "must name at least one location"),
      ),
    ],
    'must be a list of location ids, or "all"',
  ),
  /** Only uploads created more than this many days ago. */
  olderThanDays: v.optional(
    v.pipe(v.number("must be a number"), v.minValue(0, "must be 0 or more")),
    30,
  ),
  /** Only uploads in these statuses (default `completed, failed`; `deleted` is refused). */
  statuses: v.optional(
    v.pipe(
      v.array(
        v.pipe(
          v.string(),
          v.check(
            (status) => status !== "deleted",
            "deleted uploads are gone already: a purge cannot select them",
          ),
          v.picklist(PURGEABLE_STATUSES, `must be one of ${PURGEABLE_STATUSES.join(", ")}`),
        ),
      ),
      v.minLength(1, "must name at least one status"),
    ),
    [...DEFAULT_PURGE_STATUSES],
  ),
  /**
   * A safety cap: at most this many deletions per run. When more uploads match, the plan says
   * how many were left out (a later run takes them).
   */
  maxJobs: v.optional(
    v.pipe(v.number(), v.integer("must be a whole number"), v.minValue(1)),
    10_000,
  ),
  /**
   * Deleting an upload deletes its posts, scheduled ones included. While true, an upload with a
   * post scheduled after now (+ `scheduledPostMarginMinutes`) is protected: not deleted.
   */
  protectScheduledPosts: v.optional(v.boolean("must be true or false"), true),
  /** Posts scheduled within this many minutes count as future too (clock skew, slow runs). */
  scheduledPostMarginMinutes: v.optional(
    v.pipe(v.number("must be a number"), v.minValue(0, "must be 0 or more")),
    60,
  ),
  /** Plan only: list and select, enqueue nothing. */
  dryRun: v.optional(v.boolean("must be true or false"), false),
  reason: v.optional(v.pipe(v.string(), v.maxLength(256)), "scheduled purge"),
  /**
   * Names the purge in its run id, `purge-<runName>-<UTC time>`: the stack sets the schedule's
   * name; the CLI leaves it out (`purge-cli-…`).
   */
  runName: v.optional(
    v.pipe(
      v.string("must be a string"),
      v.regex(
        /^[A-Za-z0-9_.-]{1,80}$/,
        "may contain only letters, digits, '_', '.' and '-' (at most 80)",
      ),
    ),
  ),
});

export type PurgePolicy = v.InferOutput<typeof PurgePolicySchema>;
export type PurgePolicyInput = v.InferInput<typeof PurgePolicySchema>;

/** Validates a purge policy, or throws an error naming each wrong field. */
export function parsePurgePolicy(value: unknown): PurgePolicy {
  const result = v.safeParse(PurgePolicySchema, value, { abortPipeEarly: true });
  if (result.success) return result.output;
  const problems = result.issues.map((issue) => {
    const path = v.getDotPath(issue);
    return path ? `${path}: ${issue.message}` : issue.message;
  });
  throw new InvalidPurgePolicyError(`invalid purge policy: ${problems.join("; ")}`);
}

export class InvalidPurgePolicyError extends Error {
  override name = "InvalidPurgePolicyError";
}

/** Parses "30d", "12h", "90" (days) into days. */
export function parseAge(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([dhw]?)$/i.exec(text.trim());
  if (!match) throw new InvalidPurgePolicyError(`"${text}" is not an age like 30d, 12h or 2w`);
  const value = Number(match[1]);
  const unit = (match[2] ?? "d").toLowerCase();
  return unit === "h" ? value / 24 : unit === "w" ? value * 7 : value;
}
