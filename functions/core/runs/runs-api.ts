import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { S3Client } from "@aws-sdk/client-s3";
import { createS3Client, ReportBucket } from "./report-bucket.ts";
import type { ResultLine } from "./result-line.ts";
import { type RunProgress, type RunRecord, runProgress } from "./run-record.ts";
import { type ReportSummary, readRunReport as readReport } from "./run-report.ts";
import { type RunTable, runTableFor } from "./run-table.ts";

/** The coordination table: its name (the SDK's default client), or a name and a client. */
export type CoordinationTableRef =
  | string
  | { tableName: string; client: DynamoDBClient }
  | RunTable;
/** The report bucket: its name (the SDK's default client), or a name and a client. */
export type ReportBucketRef = string | { bucketName: string; client: S3Client } | ReportBucket;

export type RunView = RunRecord & RunProgress;

/**
 * One run's record with its progress (state, done, remaining, rate, ETA); undefined when the
 * table has no such run.
 *
 * @example
 * const run = await getRun("enqueue-20261202T004512Z-3f9a", { coordinationTable: "GhlCsvPurge-Coordination…" });
 * run?.state // "finished with dead letters"
 */
export async function getRun(
  runId: string,
  options: { coordinationTable: CoordinationTableRef },
): Promise<RunView | undefined> {
  const record = await runTableFor(options.coordinationTable).getRun(runId);
  return record && { ...record, ...runProgress(record) };
}

/** Recent runs, newest first (default 20). */
export async function listRuns(options: {
  coordinationTable: CoordinationTableRef;
  limit?: number;
}): Promise<RunView[]> {
  const records = await runTableFor(options.coordinationTable).listRuns(options.limit ?? 20);
  return records.map((record) => ({ ...record, ...runProgress(record) }));
}

/**
 * A run's report: one row per job with its latest outcome, streamed from the report bucket.
 *
 * @example
 * for await (const row of readRunReport(runId, { reportBucket: "ghlcsvpurge-reports…", failedOnly: true })) {
 *   console.log(row.csvId, row.reason, row.detail);
 * }
 */
export function readRunReport(
  runId: string,
  options: {
    reportBucket: ReportBucketRef;
    failedOnly?: boolean;
    onSummary?: (summary: ReportSummary) => void;
  },
): AsyncGenerator<ResultLine> {
  return readReport(runId, {
    bucket: reportBucketFor(options.reportBucket),
    ...(options.failedOnly && { failedOnly: true }),
    ...(options.onSummary && { onSummary: options.onSummary }),
  });
}

export function reportBucketFor(bucket: ReportBucketRef): ReportBucket {
  if (bucket instanceof ReportBucket) return bucket;
  if (typeof bucket === "string") return new ReportBucket(() => createS3Client(), bucket);
  return new ReportBucket(async () => bucket.client, bucket.bucketName);
}
