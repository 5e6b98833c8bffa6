import { FAILURE_REASONS, type FailureReason } from "../worker/outcome.ts";
import type { ReportBucket } from "./report-bucket.ts";
import { parseResultLine, type ResultLine, resultsPrefix } from "./result-line.ts";
import { emptyCounts, type FinalOutcome, type RunCounts } from "./run-record.ts";

/** What the reader needs of the report bucket: its keys and their objects. */
export type ReportSource = Pick<ReportBucket, "keys" | "text">;

export interface ReadReportOptions {
  bucket: ReportSource;
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
  for await (const { objectIndex, texts } of objectsInOrder(options.bucket, objects)) {
    let lineIndex = 0;
    for (const text of texts) {
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
  for await (const { objectIndex, key, texts } of objectsInOrder(options.bucket, objects)) {
    let lineIndex = 0;
    for (const text of texts) {
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

/** Result objects fetched at once while the reader works through the earlier ones. */
export const REPORT_OBJECTS_AHEAD = 16;

/**
 * The run's objects' lines, object by object in key order, with up to `ahead` objects being
 * fetched at once: S3 answers a GET in tens of milliseconds, and reading a 100,000-job run's
 * objects one after another (twice: two passes) took 56 s at 50 ms a GET; 16 at once, 4 s.
 */
async function* objectsInOrder(
  bucket: ReportSource,
  keys: readonly string[],
  ahead = REPORT_OBJECTS_AHEAD,
): AsyncGenerator<{ objectIndex: number; key: string; texts: string[] }> {
  const fetching: Promise<string>[] = [];
  let next = 0;
  const fetchAhead = () => {
    while (next < keys.length && fetching.length < ahead) {
      const text = bucket.text(keys[next++] as string);
      // Awaited in its turn below; until then a failure must not count as unhandled.
      text.catch(() => undefined);
      fetching.push(text);
    }
  };
  fetchAhead();
  for (const [objectIndex, key] of keys.entries()) {
    const text = await (fetching.shift() as Promise<string>);
    fetchAhead();
    yield { objectIndex, key, texts: text.split(/\r?\n/) };
  }
}

/** Per job, which line is its latest: typed arrays indexed by a slot per job. */
export class LatestByJob {
  /**
   * Jobs by a 53-bit hash of their key (a number, not the key's string: ~40 bytes a job instead
   * of ~150), each slot keeping a second, independent 32-bit hash to tell a collision apart;
   * the rare keys that collide live in `#collided` by their full string.
   */
  readonly #slots = new Map<number, number>();
  readonly #collided = new Map<string, number>();
  readonly #hash: (key: string) => number;
  #size = 0;
  #check = new Uint32Array(1024);
  #finishedAt = new Float64Array(1024);
  #position = new Float64Array(1024);
  #outcome = new Uint8Array(1024);
  #reason = new Uint8Array(1024);

  /** `hash` is for tests (a constant makes every key collide). */
  constructor(hash: (key: string) => number = hash53) {
    this.#hash = hash;
  }

  offer(line: ResultLine, position: number): void {
    const key = `${line.locationId}/${line.csvId}`;
    const at = Date.parse(line.finishedAt) || 0;
    const outcome = OUTCOME_CODES.indexOf(line.outcome);
    const hash = this.#hash(key);
    const check = fnv1a(key, CHECK_SEED);
    let slot = this.#find(key, hash, check);
    if (slot === undefined) {
      slot = this.#size++;
      this.#grow(slot);
      this.#check[slot] = check;
      if (this.#slots.has(hash)) this.#collided.set(key, slot);
      else this.#slots.set(hash, slot);
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
    const slot = this.#find(`${line.locationId}/${line.csvId}`);
    return slot !== undefined && this.#position[slot] === position;
  }

  /** The job's slot: by its hash, unless that slot's check says it is another job's. */
  #find(key: string, hash = this.#hash(key), check = fnv1a(key, CHECK_SEED)): number | undefined {
    const slot = this.#slots.get(hash);
    if (slot !== undefined && this.#check[slot] === check) return slot;
    return this.#collided.get(key);
  }

  summary(): Pick<ReportSummary, "jobs" | "counts"> {
    const { duplicates: _d, resultsMissing: _m, ...counts } = emptyCounts();
    for (let slot = 0; slot < this.#size; slot++) {
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
    return { jobs: this.#size, counts };
  }

  #grow(slot: number): void {
    if (slot < this.#finishedAt.length) return;
    const size = this.#finishedAt.length * 2;
    const grow = <T extends Float64Array | Uint8Array | Uint32Array>(from: T, to: T): T => {
      to.set(from);
      return to;
    };
    this.#check = grow(this.#check, new Uint32Array(size));
    this.#finishedAt = grow(this.#finishedAt, new Float64Array(size));
    this.#position = grow(this.#position, new Float64Array(size));
    this.#outcome = grow(this.#outcome, new Uint8Array(size));
    this.#reason = grow(this.#reason, new Uint8Array(size));
  }
}

const CHECK_SEED = 0x9e3779b9;

/** FNV-1a over a string's UTF-16 code units, from `seed`: a fast 32-bit hash. */
function fnv1a(text: string, seed = 0x811c9dc5): number {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** A 53-bit hash (a safe integer): two FNV-1a runs with different seeds. */
function hash53(text: string): number {
  return fnv1a(text) * 0x200000 + (fnv1a(text, 0x050c5d1f) & 0x1fffff);
}
