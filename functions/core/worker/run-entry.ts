import { clip } from "../detail.ts";
import { type DeletionJob, RUN_ID_PATTERN } from "../producers/deletion-job.ts";
import { eventsRunId, UNLABELLED_RUN } from "../runs/run-id.ts";
import type { RunEntry } from "../runs/run-recorder.ts";
import type { QueueMessage } from "./queue-message.ts";

type Line = NonNullable<RunEntry["line"]>;

/**
 * What the run of a settled message records: its result line, or (`line` undefined) a
 * duplicate copy to count. A body that is not a valid job still names its run and ids when it
 * can, so that its dead letter shows in that run's report.
 */
export function runEntry(
  message: QueueMessage,
  job: DeletionJob | undefined,
  line: Omit<Line, "locationId" | "csvId"> | undefined,
): RunEntry {
  const ids = job ?? looseIds(message.body);
  return {
    runId: ids.runId ?? eventDayRun(job?.eventTime) ?? UNLABELLED_RUN,
    ...(line && { line: { locationId: ids.locationId, csvId: ids.csvId, ...line } }),
    ...(message.redrivenFrom && { redrivenFrom: message.redrivenFrom }),
  };
}

/** `events-YYYY-MM-DD` for a job an EventBridge event made without naming its run. */
function eventDayRun(eventTime: string | undefined): string | undefined {
  const at = eventTime ? Date.parse(eventTime) : Number.NaN;
  return Number.isFinite(at) ? eventsRunId(new Date(at)) : undefined;
}

/** The ids an invalid body holds, as far as they can be read (cut, never trusted in a URL). */
function looseIds(body: string): { runId?: string; locationId: string; csvId: string } {
  let value: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
      value = parsed as Record<string, unknown>;
    }
  } catch {
    // not JSON: no ids
  }
  const text = (field: string) =>
    typeof value[field] === "string" ? clip(value[field] as string, 128) : "";
  const runId =
    typeof value.runId === "string" && RUN_ID_PATTERN.test(value.runId) ? value.runId : undefined;
  return { ...(runId && { runId }), locationId: text("locationId"), csvId: text("csvId") };
}
