import { randomBytes } from "node:crypto";
import type { FailureReason } from "../worker/outcome.ts";
import type { WorkerLog } from "../worker-log.ts";
import type { ReportBucket } from "./report-bucket.ts";
import { type ResultLine, resultsObjectKey, toJsonLine } from "./result-line.ts";
import type { CountsDelta, RunTable } from "./run-table.ts";

/** What the worker tells the recorder about one settled message. */
export interface RunEntry {
  runId: string;
  /** The job's result line; absent for a duplicate copy, which is only counted. */
  line?: Omit<ResultLine, "runId" | "finishedAt" | "messageId">;
  /** Redriven from the DLQ: its run counted it then, as a dead letter for this reason. */
  redrivenFrom?: FailureReason;
}

/** Result lines a container holds for a later write when the bucket fails; beyond, they are dropped (and counted). */
export const MAX_HELD_LINES = 20_000;

/** What of a job's result a write is to store: its row, its count in the run's record. */
export interface EntryParts {
  line: boolean;
  count: boolean;
}

const BOTH: EntryParts = { line: true, count: true };
const NONE: EntryParts = { line: false, count: false };

interface PendingRun {
  /** Result lines by the id of the delivery that settled them. */
  lines: Map<string, string>;
  delta: Required<Omit<CountsDelta, "deadLetteredByReason">> & {
    deadLetteredByReason: Partial<Record<FailureReason, number>>;
  };
}

export interface FlushReport {
  runs: number;
  linesWritten: number;
  /** Lines kept for the next invocation's write after a failed one. */
  linesHeld: number;
  /** Lines given up (counted in the run's `resultsMissing`). */
  linesDropped: number;
  countsHeld: number;
  /** Runs whose lines this write could not store (held or dropped). */
  runsUnstored: string[];
  /** Runs whose counts this write could not add to their record (held). */
  runsUncounted: string[];
}

/** A flush that wrote nothing. */
export function emptyFlushReport(): FlushReport {
  return {
    runs: 0,
    linesWritten: 0,
    linesHeld: 0,
    linesDropped: 0,
    countsHeld: 0,
    runsUnstored: [],
    runsUncounted: [],
  };
}

/**
 * Gathers the jobs one invocation settled and writes them, per run, as one results object and
 * one update of the run's record. A failed write never changes a job's outcome: the lines and
 * counts stay with the container for its next invocation's write (counts always; lines up to
 * `MAX_HELD_LINES`, past which they are dropped and counted as `resultsMissing`).
 */
export class RunRecorder {
  readonly #table: RunTable | undefined;
  readonly #bucket: ReportBucket | undefined;
  readonly #log: WorkerLog;
  readonly #writer = randomBytes(4).toString("hex");
  readonly #maxHeldLines: number;
  #sequence = 0;
  #pending = new Map<string, PendingRun>();
  /** Writes of `recordNow`, one after another; a wave gathers what arrived while one ran. */
  #waves: Promise<FlushReport | undefined> = Promise.resolve(undefined);
  #waveScheduled = false;

  constructor(options: {
    table?: RunTable;
    bucket?: ReportBucket;
    log: WorkerLog;
    maxHeldLines?: number;
  }) {
    this.#table = options.table;
    this.#bucket = options.bucket;
    this.#log = options.log;
    this.#maxHeldLines = options.maxHeldLines ?? MAX_HELD_LINES;
  }

  get enabled(): boolean {
    return this.#table !== undefined || this.#bucket !== undefined;
  }

  /** Whether settled jobs are counted in their run's record (a table is set). */
  get counting(): boolean {
    return this.#table !== undefined;
  }

  /**
   * Gathers a settled job for the next write. `parts` says what of it to store (a settlement
   * brings back only what its run lacks); `as` is the row's message id and time when they are
   * not this delivery's.
   */
  add(
    messageId: string,
    entry: RunEntry,
    options: { parts?: EntryParts; as?: { messageId: string; finishedAt: string } } = {},
  ): void {
    if (!this.enabled) return;
    const parts = options.parts ?? BOTH;
    const run = this.#run(entry.runId);
    if (parts.count) countEntry(run.delta, entry, 1);
    if (parts.line && entry.line && this.#bucket) {
      run.lines.set(
        messageId,
        toJsonLine({
          runId: entry.runId,
          ...entry.line,
          finishedAt: options.as?.finishedAt ?? new Date().toISOString(),
          messageId: options.as?.messageId ?? messageId,
        }),
      );
    }
  }

  /**
   * Takes back what a failed write left held of one job, once its message carries it instead
   * (a settlement): held here too, it would be counted twice. A line given up already (past
   * `MAX_HELD_LINES`) is no longer missing.
   */
  withdraw(messageId: string, entry: RunEntry, parts: EntryParts): void {
    if (!this.enabled) return;
    const run = this.#run(entry.runId);
    if (parts.count) countEntry(run.delta, entry, -1);
    if (parts.line && entry.line && this.#bucket && !run.lines.delete(messageId)) {
      run.delta.resultsMissing -= 1;
    }
  }

  /**
   * Records a job and writes it (with whatever else is gathered) before returning: the worker
   * records a dead letter before it parks it, so that a container killed after parking cannot
   * take the job's only trace with it. Jobs arriving while a write runs share the next one.
   * Resolves with what could not be stored, which the container then does not hold: the
   * caller sends it on (see batch-results.ts).
   */
  async recordNow(messageId: string, entry: RunEntry, deadline: number): Promise<EntryParts> {
    this.add(messageId, entry);
    if (!this.enabled) return NONE;
    if (!this.#waveScheduled) {
      this.#waveScheduled = true;
      this.#waves = this.#waves.then(() => {
        this.#waveScheduled = false;
        return this.flush(deadline).catch(() => undefined);
      });
    }
    const report = await this.#waves;
    if (!report) return NONE;
    const missing: EntryParts = {
      line:
        entry.line !== undefined &&
        this.#bucket !== undefined &&
        report.runsUnstored.includes(entry.runId),
      count: this.#table !== undefined && report.runsUncounted.includes(entry.runId),
    };
    if (missing.line || missing.count) this.withdraw(messageId, entry, missing);
    return missing;
  }

  /** Writes what was gathered (and what earlier writes left), by `deadline`. */
  async flush(deadline: number): Promise<FlushReport> {
    const report: FlushReport = { ...emptyFlushReport(), runs: this.#pending.size };
    if (this.#pending.size === 0) return report;
    const runs = this.#pending;
    this.#pending = new Map();
    // The lines and the counts go at once: a batch waits for one round trip, not two.
    await Promise.all(
      [...runs].flatMap(([runId, run]) => [
        this.#writeLines(runId, run.lines, deadline, report).then(({ dropped }) => {
          // Lines given up are counted in the run's next update.
          if (dropped) this.#run(runId).delta.resultsMissing += dropped;
        }),
        this.#writeCounts(runId, run.delta, deadline, report),
      ]),
    );
    return report;
  }

  async #writeLines(
    runId: string,
    lines: Map<string, string>,
    deadline: number,
    report: FlushReport,
  ) {
    if (!this.#bucket || lines.size === 0) return { dropped: 0 };
    const key = resultsObjectKey(runId, new Date(), `${this.#writer}-${++this.#sequence}`);
    try {
      await this.#bucket.put(key, `${[...lines.values()].join("\n")}\n`, deadline);
      report.linesWritten += lines.size;
      return { dropped: 0 };
    } catch (error) {
      const held = this.#heldLines();
      const room = Math.max(0, this.#maxHeldLines - held);
      const keep = [...lines].slice(0, room);
      const dropped = lines.size - keep.length;
      const pending = this.#run(runId).lines;
      for (const [messageId, line] of keep) pending.set(messageId, line);
      report.linesHeld += keep.length;
      report.linesDropped += dropped;
      report.runsUnstored.push(runId);
      this.#log.warn("could not write job results; they are kept for the next batch's write", {
        runId,
        lines: lines.size,
        held: keep.length,
        dropped,
        error: describe(error),
      });
      return { dropped };
    }
  }

  async #writeCounts(
    runId: string,
    delta: PendingRun["delta"],
    deadline: number,
    report: FlushReport,
  ) {
    if (!this.#table) return;
    try {
      await this.#table.addSettlements(runId, delta, deadline);
    } catch (error) {
      // Counts are small: they wait in this container for the next write, however long.
      mergeDelta(this.#run(runId).delta, delta);
      report.countsHeld += 1;
      report.runsUncounted.push(runId);
      this.#log.warn("could not update the run's record; its counts are kept for the next batch", {
        runId,
        error: describe(error),
      });
    }
  }

  #heldLines(): number {
    let held = 0;
    for (const run of this.#pending.values()) held += run.lines.size;
    return held;
  }

  #run(runId: string): PendingRun {
    let run = this.#pending.get(runId);
    if (!run) {
      run = {
        lines: new Map(),
        delta: {
          deleted: 0,
          alreadyAbsent: 0,
          deadLettered: 0,
          duplicates: 0,
          resultsMissing: 0,
          deadLetteredByReason: {},
        },
      };
      this.#pending.set(runId, run);
    }
    return run;
  }
}

/** Adds (`sign` 1) or takes back (-1) one settled job's part of its run's counts. */
function countEntry(delta: PendingRun["delta"], entry: RunEntry, sign: 1 | -1): void {
  if (entry.redrivenFrom) {
    delta.deadLettered -= sign;
    delta.deadLetteredByReason[entry.redrivenFrom] =
      (delta.deadLetteredByReason[entry.redrivenFrom] ?? 0) - sign;
  }
  const outcome = entry.line?.outcome;
  if (outcome === undefined) delta.duplicates += sign;
  else if (outcome === "deleted") delta.deleted += sign;
  else if (outcome === "already-absent") delta.alreadyAbsent += sign;
  else {
    delta.deadLettered += sign;
    const reason = entry.line?.reason;
    if (reason) {
      delta.deadLetteredByReason[reason] = (delta.deadLetteredByReason[reason] ?? 0) + sign;
    }
  }
}

function mergeDelta(into: PendingRun["delta"], from: PendingRun["delta"]): void {
  into.deleted += from.deleted;
  into.alreadyAbsent += from.alreadyAbsent;
  into.deadLettered += from.deadLettered;
  into.duplicates += from.duplicates;
  into.resultsMissing += from.resultsMissing;
  for (const [reason, n] of Object.entries(from.deadLetteredByReason) as [
    FailureReason,
    number,
  ][]) {
    into.deadLetteredByReason[reason] = (into.deadLetteredByReason[reason] ?? 0) + n;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : "unknown error";
}
