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

interface PendingRun {
  lines: string[];
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
  #waves: Promise<unknown> = Promise.resolve();
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

  add(messageId: string, entry: RunEntry, finishedAt = new Date()): void {
    if (!this.enabled) return;
    const run = this.#run(entry.runId);
    const { delta } = run;
    if (entry.redrivenFrom) {
      delta.deadLettered -= 1;
      delta.deadLetteredByReason[entry.redrivenFrom] =
        (delta.deadLetteredByReason[entry.redrivenFrom] ?? 0) - 1;
    }
    if (!entry.line) {
      delta.duplicates += 1;
      return;
    }
    const { line } = entry;
    if (line.outcome === "deleted") delta.deleted += 1;
    else if (line.outcome === "already-absent") delta.alreadyAbsent += 1;
    else {
      delta.deadLettered += 1;
      if (line.reason) {
        delta.deadLetteredByReason[line.reason] =
          (delta.deadLetteredByReason[line.reason] ?? 0) + 1;
      }
    }
    if (this.#bucket) {
      run.lines.push(
        toJsonLine({
          runId: entry.runId,
          ...line,
          finishedAt: finishedAt.toISOString(),
          messageId,
        }),
      );
    }
  }

  /**
   * Records a job and writes it (with whatever else is gathered) before returning: the worker
   * records a dead letter before it parks it, so that a container killed after parking cannot
   * take the job's only trace with it. Jobs arriving while a write runs share the next one.
   */
  async recordNow(messageId: string, entry: RunEntry, deadline: number): Promise<void> {
    this.add(messageId, entry);
    if (!this.enabled) return;
    if (!this.#waveScheduled) {
      this.#waveScheduled = true;
      this.#waves = this.#waves.then(() => {
        this.#waveScheduled = false;
        return this.flush(deadline).catch(() => undefined);
      });
    }
    await this.#waves;
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

  async #writeLines(runId: string, lines: string[], deadline: number, report: FlushReport) {
    if (!this.#bucket || lines.length === 0) return { dropped: 0 };
    const key = resultsObjectKey(runId, new Date(), `${this.#writer}-${++this.#sequence}`);
    try {
      await this.#bucket.put(key, `${lines.join("\n")}\n`, deadline);
      report.linesWritten += lines.length;
      return { dropped: 0 };
    } catch (error) {
      const held = this.#heldLines();
      const room = Math.max(0, this.#maxHeldLines - held);
      const keep = lines.slice(0, room);
      const dropped = lines.length - keep.length;
      this.#run(runId).lines.unshift(...keep);
      report.linesHeld += keep.length;
      report.linesDropped += dropped;
      report.runsUnstored.push(runId);
      this.#log.warn("could not write job results; they are kept for the next batch's write", {
        runId,
        lines: lines.length,
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
      this.#log.warn("could not update the run's record; its counts are kept for the next batch", {
        runId,
        error: describe(error),
      });
    }
  }

  #heldLines(): number {
    let held = 0;
    for (const run of this.#pending.values()) held += run.lines.length;
    return held;
  }

  #run(runId: string): PendingRun {
    let run = this.#pending.get(runId);
    if (!run) {
      run = {
        lines: [],
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
