import { execFileSync } from "node:child_process";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { ReportBucket } from "../functions/core/runs/report-bucket.ts";
import { resultsObjectKey, toCsvRow, toJsonLine } from "../functions/core/runs/result-line.ts";
import { readRunReport } from "../functions/core/runs/run-report.ts";
import { createLocalS3Client, createReportBucket } from "../local/embedded-sqs.ts";
import { startServers } from "./servers.ts";

export interface ReportReadResult {
  jobs: number;
  /** How long the bucket held each request (0: the embedded S3 as is). */
  s3LatencyMs: number;
  lines: number;
  objects: number;
  seconds: number;
  rowsPerSecond: number;
  /** Growth of this process's heap while reading (after a GC before and at the end). */
  heapGrowthMiB: number;
  peakRssMiB: number;
}

/**
 * Writes the results of a run of `jobs` jobs as the worker does (objects of `perObject` lines,
 * 1% of jobs settled twice) into fauxqs's S3 in another process, then reads its report as
 * `ghl-csv-purge report` does, formatting every row as CSV.
 */
export async function measureReportRead(
  jobs: number,
  s3LatencyMs = 0,
  perObject = 200,
): Promise<ReportReadResult> {
  const servers = await startServers({
    sandbox: { tokens: ["report-bench"] },
    locations: ["reportLoc"],
    jobs: 0,
    visibilityTimeoutSeconds: 30,
    enqueue: false,
    ...(s3LatencyMs > 0 && { storeLatencyMs: { s3: s3LatencyMs, dynamoDb: 0 } }),
  });
  const s3 = createLocalS3Client(servers.sqsEndpoint);
  // The reader waits for each answer as long as S3 would make it wait; the writes above do not.
  const readerS3 = createLocalS3Client(servers.s3Endpoint);
  const bucketName = await createReportBucket(servers.sqsEndpoint, "bench-reports");
  const runId = `report-bench-${jobs}`;
  let lines = 0;
  let objects = 0;
  const writes: Promise<unknown>[] = [];
  const start = Date.parse("2026-12-01T00:00:00Z");
  for (let first = 0; first < jobs; first += perObject) {
    const body: string[] = [];
    for (let i = first; i < Math.min(jobs, first + perObject); i++) {
      const line = {
        runId,
        locationId: `loc${i % 50}`,
        csvId: `csv${String(i).padStart(8, "0")}`,
        outcome: i % 50 === 7 ? ("dead-lettered" as const) : ("deleted" as const),
        ...(i % 50 === 7 && {
          reason: "rejected" as const,
          status: 422,
          detail: "CSV is importing",
        }),
        attempts: 1,
        finishedAt: new Date(start + i).toISOString(),
        messageId: `m-${i}`,
      };
      body.push(toJsonLine(line));
      // 1%: settled again later (a redrive), the latest outcome wins.
      if (i % 100 === 3)
        body.push(toJsonLine({ ...line, finishedAt: new Date(start + jobs + i).toISOString() }));
    }
    lines += body.length;
    objects += 1;
    writes.push(
      s3.send(
        new PutObjectCommand({
          Bucket: bucketName,
          Key: resultsObjectKey(runId, new Date(start + first), `w-${objects}`),
          Body: `${body.join("\n")}\n`,
        }),
      ),
    );
    if (writes.length >= 16) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  let rows = 0;
  let bytes = 0;
  for await (const row of readRunReport(runId, {
    bucket: new ReportBucket(async () => readerS3, bucketName),
  })) {
    bytes += toCsvRow(row).length + 1;
    rows += 1;
  }
  const seconds = (performance.now() - started) / 1000;
  const heapAfter = process.memoryUsage().heapUsed;
  s3.destroy();
  readerS3.destroy();
  await servers.stop();
  if (rows !== jobs || bytes === 0) throw new Error(`report read ${rows} rows of ${jobs}`);
  return {
    jobs,
    s3LatencyMs,
    lines,
    objects,
    seconds,
    rowsPerSecond: rows / seconds,
    heapGrowthMiB: (heapAfter - heapBefore) / 2 ** 20,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

/** The measurement in a fresh process, so that its peak RSS is the reader's alone. */
export function measureReportReadInProcess(jobs: number, s3LatencyMs = 0): ReportReadResult {
  const output = execFileSync(
    process.execPath,
    [
      "--import",
      "tsx",
      new URL("./report-read.ts", import.meta.url).pathname,
      String(jobs),
      String(s3LatencyMs),
    ],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  return JSON.parse(output.trim().split("\n").pop() ?? "{}") as ReportReadResult;
}

if (process.argv[1]?.endsWith("report-read.ts")) {
  for (const jobs of (process.argv[2] ?? "100000").split(",").map(Number)) {
    process.stdout.write(
      `${JSON.stringify(await measureReportRead(jobs, Number(process.argv[3] ?? 0)))}\n`,
    );
  }
}
