import { FAILURE_REASONS, type FailureReason } from "../worker/outcome.ts";
import type { RunSource } from "./run-id.ts";

/** A job's final outcome, as its result line and the run's counts name it. */
export type FinalOutcome = "deleted" | "already-absent" | "dead-lettered";

/** What a run's jobs came to so far. Each job counts once, under its latest outcome. */
export interface RunCounts {
  deleted: number;
  alreadyAbsent: number;
  deadLettered: number;
  deadLetteredByReason: Partial<Record<FailureReason, number>>;
  /** Copies of a job that another message of the same batch carried (they share its fate). */
  duplicates: number;
  /** Settled jobs whose result lines could not be written (their outcome stands). */
  resultsMissing: number;
}

export interface RunRecord {
  runId: string;
  source: RunSource | string;
  label?: string;
  createdAt: string;
  /** Jobs the producers sent; unknown while the run is enqueuing (or for event days). */
  total?: number;
  enqueuing: boolean;
  counts: RunCounts;
  firstSettledAt?: string;
  lastSettledAt?: string;
  /** A purge that ran out of time: locations left for its next run. */
  unreachedLocations?: number;
}

export type RunState =
  | "enqueuing"
  | "running"
  | "finished"
  | "finished with dead letters"
  /** A run with no end: a day of events, jobs without a run id, a run no producer opened. */
  | "open";

export function emptyCounts(): RunCounts {
  return {
    deleted: 0,
    alreadyAbsent: 0,
    deadLettered: 0,
    deadLetteredByReason: {},
    duplicates: 0,
    resultsMissing: 0,
  };
}

/** Jobs settled for good (duplicate copies included: they share a settled job's fate). */
export function doneCount(counts: RunCounts): number {
  return counts.deleted + counts.alreadyAbsent + counts.deadLettered + counts.duplicates;
}

/**
 * The run's state: `enqueuing` until its producer has written the total; `finished` once as
 * many jobs have settled as were sent; event days, unlabelled jobs and runs no producer opened
 * (an event's own `runId`) stay `open`.
 */
export function runState(record: RunRecord): RunState {
  if (record.source === "events" || record.source === "unlabelled") return "open";
  // No producer opened it (an event that named its own run): there is no total to reach.
  if (record.total === undefined) return record.enqueuing ? "enqueuing" : "open";
  if (record.enqueuing) return "enqueuing";
  if (doneCount(record.counts) < record.total) return "running";
  return record.counts.deadLettered > 0 ? "finished with dead letters" : "finished";
}

export interface RunProgress {
  state: RunState;
  done: number;
  /** Jobs still queued, in flight, deferred or waiting for a slot. */
  remaining?: number;
  /** Jobs settled per second since the first settled. */
  perSecond?: number;
  etaSeconds?: number;
}

/** Done, remaining, rate and ETA of a run, from its record alone. */
export function runProgress(record: RunRecord, now = Date.now()): RunProgress {
  const state = runState(record);
  const done = doneCount(record.counts);
  const remaining = record.total === undefined ? undefined : Math.max(0, record.total - done);
  const first = record.firstSettledAt ? Date.parse(record.firstSettledAt) : Number.NaN;
  const last = record.lastSettledAt ? Date.parse(record.lastSettledAt) : Number.NaN;
  const seconds = ((state === "running" ? now : last) - first) / 1000;
  const perSecond = done > 0 && seconds >= 1 ? done / seconds : undefined;
  const etaSeconds =
    state === "running" && perSecond && remaining !== undefined
      ? Math.round(remaining / perSecond)
      : undefined;
  return {
    state,
    done,
    ...(remaining !== undefined && { remaining }),
    ...(perSecond !== undefined && { perSecond: Math.round(perSecond * 10) / 10 }),
    ...(etaSeconds !== undefined && { etaSeconds }),
  };
}

/** `exhausted 3, rejected 1`: the dead letters by reason, largest first. */
export function describeDeadLetters(counts: RunCounts): string {
  return FAILURE_REASONS.flatMap((reason) => {
    const n = counts.deadLetteredByReason[reason] ?? 0;
    return n ? [[reason, n] as const] : [];
  })
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${reason} ${n}`)
    .join(", ");
}
