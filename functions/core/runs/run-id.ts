import { randomBytes } from "node:crypto";
import { RUN_ID_PATTERN } from "../producers/deletion-job.ts";

/** Jobs that carry no run id are counted under this one. */
export const UNLABELLED_RUN = "unlabelled";

/** Who made a run: the `source` of its record. */
export type RunSource = "enqueue" | "library" | "purge" | "events" | "unlabelled";

/** `20261202T004512Z`: UTC, to the second, sorting as it reads. */
export function compactUtc(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
}

/**
 * A new run id for a producer: its source, the UTC time and four random hex digits (two runs
 * started in the same second stay apart), sortable by time within a source.
 *
 * @example
 * newRunId("enqueue", new Date("2026-12-02T00:45:12Z")) // "enqueue-20261202T004512Z-3f9a"
 */
export function newRunId(source: "enqueue" | "library", at = new Date()): string {
  return `${source}-${compactUtc(at)}-${randomBytes(2).toString("hex")}`;
}

/**
 * The run id of a purge: `purge-<schedule or cli>-<UTC time>`. A schedule's name is cut to what
 * a run id may hold.
 *
 * @example
 * purgeRunId("nightly", new Date("2026-12-02T03:00:00Z")) // "purge-nightly-20261202T030000Z"
 */
export function purgeRunId(scheduleOrCli: string, at = new Date()): string {
  const name = scheduleOrCli.replace(/[^A-Za-z0-9_.-]+/g, "-").slice(0, 80) || "cli";
  return `purge-${name}-${compactUtc(at)}`;
}

/** The run of EventBridge events without a `runId` of their own: one per UTC day. */
export function eventsRunId(at = new Date()): string {
  return `events-${at.toISOString().slice(0, 10)}`;
}

/** Checks a run id given by a user or an event; the message names what is wrong. */
export function checkRunId(value: string, what = "the run id"): string {
  if (!RUN_ID_PATTERN.test(value)) {
    throw new RangeError(
      `${what} must be 1–128 letters, digits, '_', '.' or '-', starting with a letter or digit, got "${value.slice(0, 140)}"`,
    );
  }
  return value;
}
