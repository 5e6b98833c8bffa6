import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import pLimit from "p-limit";
import { newRunId, type RunSource } from "../runs/run-id.ts";
import { type RunTable, runTableFor } from "../runs/run-table.ts";
import { type IndexedJob, messageGroupOf, validateDeletionJob } from "./deletion-job.ts";
import { interleaveByLocation } from "./interleave.ts";
import { isNonRetryableSqsError } from "./sqs-errors.ts";

export type { IndexedJob } from "./deletion-job.ts";

/**
 * Sending stopped on a failure no retry can mend (see `isNonRetryableSqsError`): `cause` is
 * the SQS error, `report` what was sent before it. Jobs not in the report were not sent.
 */
export class EnqueueStoppedError extends Error {
  override name = "EnqueueStoppedError";
  readonly report: EnqueueReport;
  constructor(report: EnqueueReport, cause: unknown) {
    super(cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause), { cause });
    this.report = report;
  }
}

/** What happened to one job of an `enqueueDeletions` call, by its position in the input. */
export type EnqueueResult = (
  | { index: number; status: "sent"; messageId: string }
  | { index: number; status: "invalid"; error: string }
  | { index: number; status: "failed"; error: string }
  | { index: number; status: "skipped" }
) & {
  /** The job's line in its file, when it came from one (`sendDeletionJobs` from a file). */
  line?: number;
};

export interface EnqueueReport {
  /** The run the sent jobs belong to (`runs show <runId>`, `report <runId>`). */
  runId?: string;
  /** Set when the run's record could not be opened or closed: the jobs were sent all the same. */
  runRecordError?: string;
  sent: number;
  invalid: number;
  failed: number;
  skipped: number;
  results: EnqueueResult[];
}

export interface EnqueueOptions {
  queueUrl: string;
  /** Defaults to a client built from the environment (AWS_ENDPOINT_URL_SQS is honoured by the SDK). */
  client?: SQSClient;
  /** SendMessageBatch requests in flight at once. Default 4. */
  concurrency?: number;
  /** Extra tries for entries a batch reports as failed (and for failed requests). Default 5. */
  maxRetries?: number;
  /** Send the valid jobs even when some are invalid. Default false: one bad job stops the whole call. */
  sendValidWhenSomeInvalid?: boolean;
  /** Called after each batch settles, with totals so far. */
  onProgress?: (progress: { sent: number; failed: number; total: number }) => void;
  /** Called for every job once its fate is known (sent or failed), in completion order. */
  onResult?: (result: EnqueueResult) => void;
  /** Keep per-job results: all (default), only the failures (large streams), or none. */
  keepResults?: boolean | "failures";
  /**
   * Mix locations round-robin within a buffer of 10,000 jobs before sending (default true), so a
   * file sorted by location does not make the workers wait on one location at a time.
   */
  interleave?: boolean;
  /** The run the jobs belong to, stamped on each job without one. Default: a new id (returned). */
  runId?: string;
  /** A label for the run (`--run-name`): shown by `runs`. */
  runLabel?: string;
  /**
   * Record the run in this coordination table (the stack's `CoordinationTableName`): opened
   * before sending, its total written when sending ends. Without it the jobs still carry the
   * run id and the workers count them, but the run has no total.
   */
  coordinationTable?: string | { tableName: string; client: DynamoDBClient } | RunTable;
  /** The producer named in the run's record (default `library`). */
  runSource?: RunSource;
}

const SQS_BATCH_LIMIT = 10;

/**
 * Validates every job, then sends them with SendMessageBatch, 10 a request, a few requests at a
 * time, retrying only the entries a batch reports as failed. A job that validates is sent at
 * most once by this call; one that cannot be sent is reported, never dropped silently.
 *
 * @example
 * const report = await enqueueDeletions(
 *   [{ locationId: "ve9EPM428h8vShlRW1KT", csvId: "65f92e55cc884f0d0845e447" }],
 *   { queueUrl: process.env.QUEUE_URL! },
 * );
 * if (report.invalid > 0) console.error(report.results.filter((r) => r.status === "invalid"));
 */
export async function enqueueDeletions(
  jobs: readonly unknown[],
  options: EnqueueOptions,
): Promise<EnqueueReport> {
  const valid: IndexedJob[] = [];
  const invalid: EnqueueResult[] = [];
  jobs.forEach((candidate, index) => {
    const parsed = validateDeletionJob(candidate);
    if (parsed.ok) valid.push({ index, job: parsed.job });
    else invalid.push({ index, status: "invalid", error: parsed.error });
  });
  if (invalid.length > 0 && !options.sendValidWhenSomeInvalid) {
    const skipped = valid.map(({ index }): EnqueueResult => ({ index, status: "skipped" }));
    return {
      sent: 0,
      invalid: invalid.length,
      failed: 0,
      skipped: skipped.length,
      results: [...invalid, ...skipped].sort((a, b) => a.index - b.index),
    };
  }
  const runId = options.runId ?? newRunId("library");
  const table = options.coordinationTable && runTableFor(options.coordinationTable);
  if (table) {
    await table.openRun(runId, {
      source: options.runSource ?? "library",
      ...(options.runLabel && { label: options.runLabel }),
    });
  }
  let report: EnqueueReport;
  try {
    report = await sendDeletionJobs(toAsync(valid), { ...options, runId, total: valid.length });
  } catch (error) {
    if (table && error instanceof EnqueueStoppedError) {
      await closeRun(table, runId, error.report);
    }
    throw error;
  }
  if (table) await closeRun(table, runId, report);
  report.invalid = invalid.length;
  report.results = [...invalid, ...report.results].sort((a, b) => a.index - b.index);
  return report;
}

/**
 * Sends already-validated jobs from a stream, holding at most `concurrency` batches in memory:
 * the building block for enqueueing files of millions of lines.
 */
export async function sendDeletionJobs(
  jobs: AsyncIterable<IndexedJob>,
  options: EnqueueOptions & { total?: number },
): Promise<EnqueueReport> {
  const client = options.client ?? new SQSClient({});
  const concurrency = options.concurrency ?? 4;
  const limit = pLimit(concurrency);
  const keep = options.keepResults ?? true;
  const report: EnqueueReport = {
    ...(options.runId && { runId: options.runId }),
    sent: 0,
    invalid: 0,
    failed: 0,
    skipped: 0,
    results: [],
  };
  const inFlight = new Set<Promise<void>>();

  const settleBatch = async (batch: IndexedJob[]) => {
    const results = await sendBatchWithRetries(
      client,
      options.queueUrl,
      options.runId ? batch.map((entry) => stampRun(entry, options.runId as string)) : batch,
      options.maxRetries ?? 5,
    );
    for (const result of results) {
      if (result.status === "sent") report.sent += 1;
      else report.failed += 1;
      options.onResult?.(result);
      if (keep === true || (keep === "failures" && result.status !== "sent")) {
        report.results.push(result);
      }
    }
    options.onProgress?.({ sent: report.sent, failed: report.failed, total: options.total ?? 0 });
  };

  let batch: IndexedJob[] = [];
  let stoppedBy: { error: unknown } | undefined;
  const flush = async () => {
    const toSend = batch;
    batch = [];
    const pending = limit(() => (stoppedBy ? Promise.resolve() : settleBatch(toSend)))
      .catch((error: unknown) => {
        stoppedBy ??= { error };
      })
      .finally(() => inFlight.delete(pending));
    inFlight.add(pending);
    // Back-pressure: read no further while every slot is busy.
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  };
  const ordered = options.interleave === false ? jobs : interleaveByLocation(jobs);
  for await (const job of ordered) {
    if (stoppedBy) break;
    batch.push(job);
    if (batch.length === SQS_BATCH_LIMIT) await flush();
  }
  if (batch.length > 0 && !stoppedBy) await flush();
  await Promise.all(inFlight);
  if (keep) report.results.sort((a, b) => a.index - b.index);
  if (stoppedBy) throw new EnqueueStoppedError(report, stoppedBy.error);
  return report;
}

async function sendBatchWithRetries(
  client: SQSClient,
  queueUrl: string,
  batch: IndexedJob[],
  maxRetries: number,
): Promise<EnqueueResult[]> {
  const results: EnqueueResult[] = [];
  let remaining = batch;
  let lastError = new Map<number, string>();
  for (let attempt = 0; attempt <= maxRetries && remaining.length > 0; attempt++) {
    if (attempt > 0) await backoff(attempt);
    const byId = new Map(remaining.map((entry) => [String(entry.index), entry]));
    try {
      const response = await client.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: remaining.map((entry) => ({
            Id: String(entry.index),
            MessageBody: JSON.stringify(entry.job),
            MessageGroupId: messageGroupOf(entry.job),
          })),
        }),
      );
      for (const ok of response.Successful ?? []) {
        const entry = byId.get(ok.Id ?? "");
        if (!entry) continue;
        results.push({ ...where(entry), status: "sent", messageId: ok.MessageId ?? "" });
        byId.delete(ok.Id ?? "");
      }
      lastError = new Map();
      for (const failed of response.Failed ?? []) {
        const entry = byId.get(failed.Id ?? "");
        if (!entry) continue;
        const reason = `${failed.Code ?? "Error"}: ${failed.Message ?? "no message"}`;
        if (failed.SenderFault) {
          // The entry itself is wrong; sending it again will not help.
          results.push({ ...where(entry), status: "failed", error: reason });
          byId.delete(failed.Id ?? "");
        } else {
          lastError.set(entry.index, reason);
        }
      }
    } catch (error) {
      // A missing queue or refused credentials fail every batch alike: stop the whole run.
      if (isNonRetryableSqsError(error)) throw error;
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      lastError = new Map(remaining.map((entry) => [entry.index, reason]));
    }
    remaining = [...byId.values()];
  }
  for (const entry of remaining) {
    results.push({
      ...where(entry),
      status: "failed",
      error: lastError.get(entry.index) ?? "not sent",
    });
  }
  return results;
}

/** The job with the producer's run id, unless it names its own. */
function stampRun(entry: IndexedJob, runId: string): IndexedJob {
  return entry.job.runId ? entry : { ...entry, job: { ...entry.job, runId } };
}

/** Writes the run's total; a failure is reported, not thrown: the jobs are on the queue. */
export async function closeRun(table: RunTable, runId: string, report: EnqueueReport) {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await table.closeEnqueue(runId, report.sent);
      return;
    } catch (error) {
      if (attempt === 2) {
        report.runRecordError = `the run's total was not recorded: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      } else {
        await backoff(attempt + 1);
      }
    }
  }
}

function where(entry: IndexedJob): { index: number; line?: number } {
  return entry.line === undefined
    ? { index: entry.index }
    : { index: entry.index, line: entry.line };
}

function backoff(attempt: number): Promise<void> {
  const ceiling = Math.min(5_000, 100 * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}

async function* toAsync<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}
