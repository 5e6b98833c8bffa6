import { FAILURE_REASONS, type FailureReason } from "../worker/outcome.ts";
import type { ReportBucket } from "./report-bucket.ts";
import { parseResultLine, type ResultLine, resultsPrefix } from "./result-line.ts";
import { emptyCounts, type FinalOutcome, type RunCounts } from "./run-record.ts";

export interface ReadReportOptions {
  bucket: ReportBucket;
  /** Only the jobs whose latest outcome is a dead letter. */
  failedOnly?: boolean;
  /** Told of stored lines that are not results (torn or foreign), which are skipped. */
  onSkippedLine?: (objectKey: string) => void;
  /** Told once the latest outcome of every job is known, before the first row. */
  onSummary?: (summary: ReportSummary) => void;
}

export interface ReportSummary {
  /** Jobs (uploads) in the report: one row each. */
  jobs: number;
  /** Result lines read: more than `jobs` when a job settled more than once (redrive, duplicates). */
  lines: number;
  objects: number;
  counts: Omit<RunCounts, "duplicates" | "resultsMissing">;
}

const OUTCOME_CODES: FinalOutcome[] = ["deleted", "already-absent", "dead-lettered"];

/**
 * The rows of a run's report: one per job (`locationId`/`csvId`) with its latest outcome, read
 * from the run's result objects. Two passes: the first keeps, per job, only which line is its
 * latest (a few numbers, not the row); the second streams those lines out. Memory grows with
 * the number of jobs (~100 bytes each), never with the rows' size.
 *
 * "Latest" is the last finished, except that a copy finding the upload already absent after
 * another copy deleted it does not hide the deletion: that job stays `deleted`.
 *
 * @example
 * for await (const row of readRunReport("enqueue-20261202T004512Z-3f9a", { bucket })) console.log(row);
 */
export async function* readRunReport(
  runId: string,
  options: ReadReportOptions,
): AsyncGenerator<ResultLine> {
  const { objects, latest, summary } = await findLatest(runId, options);
  options.onSummary?.(summary);
  for (const [objectIndex, key] of objects.entries()) {
    let lineIndex = 0;
    for await (const text of options.bucket.lines(key)) {
      const line = parseResultLine(text);
      if (!line) continue;
      const position = objectIndex * 1_000_000 + lineIndex++;
      if (!latest.isLatest(line, position)) continue;
      if (options.failedOnly && line.outcome !== "dead-lettered") continue;
      yield line;
    }
  }
}

/**
 * A run's counts per job (each job once, under its latest outcome), from its results: the
 * report's first pass alone.
 */
export async function summarizeRunReport(
  runId: string,
  options: Pick<ReadReportOptions, "bucket" | "onSkippedLine">,
): Promise<ReportSummary> {
  return (await findLatest(runId, options)).summary;
}

async function findLatest(
  runId: string,
  options: Pick<ReadReportOptions, "bucket" | "onSkippedLine">,
) {
  const objects: string[] = [];
  for await (const key of options.bucket.keys(resultsPrefix(runId))) objects.push(key);
  const latest = new LatestByJob();
  let lines = 0;
  for (const [objectIndex, key] of objects.entries()) {
    let lineIndex = 0;
    for await (const text of options.bucket.lines(key)) {
      const line = parseResultLine(text);
      if (!line) {
        if (text.trim()) options.onSkippedLine?.(key);
        continue;
      }
      lines += 1;
      latest.offer(line, objectIndex * 1_000_000 + lineIndex++);
    }
  }
  return { objects, latest, summary: { ...latest.summary(), lines, objects: objects.length } };
}

/** Per job, which line is its latest: typed arrays indexed by a slot per job. */
class LatestByJob {
  readonly #slots = new Map<string, number>();
  #finishedAt = new Float64Array(1024);
  #position = new Float64Array(1024);
  #outcome = new Uint8Array(1024);
  #reason = new Uint8Array(1024);

  offer(line: ResultLine, position: number): void {
    const key = `${line.locationId}/${line.csvId}`;
    const at = Date.parse(line.finishedAt) || 0;
    const outcome = OUTCOME_CODES.indexOf(line.outcome);
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      slot = this.#slots.size;
      this.#slots.set(key, slot);
      this.#grow(slot);
    } else {
      const heldAt = this.#finishedAt[slot] as number;
      const later = at > heldAt || (at === heldAt && position > (this.#position[slot] as number));
      const confirmsDeletion = this.#outcome[slot] === 0 && line.outcome === "already-absent";
      if (!later || confirmsDeletion) return;
    }
    this.#finishedAt[slot] = at;
    this.#position[slot] = position;
    this.#outcome[slot] = outcome;
    this.#reason[slot] = line.reason ? FAILURE_REASONS.indexOf(line.reason) + 1 : 0;
  }

  isLatest(line: ResultLine, position: number): boolean {
    const slot = this.#slots.get(`${line.locationId}/${line.csvId}`);
    return slot !== undefined && this.#position[slot] === position;
  }

  summary(): Pick<ReportSummary, "jobs" | "counts"> {
    const { duplicates: _d, resultsMissing: _m, ...counts } = emptyCounts();
    for (let slot = 0; slot < this.#slots.size; slot++) {
      const outcome = this.#outcome[slot];
      if (outcome === 0) counts.deleted += 1;
      else if (outcome === 1) counts.alreadyAbsent += 1;
      else {
        counts.deadLettered += 1;
        const reason = FAILURE_REASONS[(this.#reason[slot] as number) - 1] as
          | FailureReason
          | undefined;
        if (reason)
          counts.deadLetteredByReason[reason] = (counts.deadLetteredByReason[reason] ?? 0) + 1;
      }
    }
    return { jobs: this.#slots.size, counts };
  }

  #grow(slot: number): void {
    if (slot < this.#finishedAt.length) return;
    const size = this.#finishedAt.length * 2;
    const grow = <T extends Float64Array | Uint8Array>(from: T, to: T): T => {
      to.set(from);
      return to;
    };
    this.#finishedAt = grow(this.#finishedAt, new Float64Array(size));
    this.#position = grow(this.#position, new Float64Array(size));
    this.#outcome = grow(this.#outcome, new Uint8Array(size));
    this.#reason = grow(this.#reason, new Uint8Array(size));
  }
}
