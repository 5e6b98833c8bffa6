import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { resultsObjectKey, toJsonLine } from "../functions/core/runs/result-line.ts";
import { createLocalS3Client, createReportBucket } from "../local/embedded-sqs.ts";
import { AWS_STORE_LATENCY_MS } from "./latency-proxy.ts";
import { startServers } from "./servers.ts";

const SHIPPED_CLI = fileURLToPath(new URL("../dist/cli/bin.js", import.meta.url));
/** Loaded before the CLI: its peak RSS, told on stderr as it exits. */
const PEAK_RSS_PROBE = `data:text/javascript,process.on("exit",()=>process.stderr.write("peak-rss-kib="+process.resourceUsage().maxRSS+"\\n"))`;

export interface ReportReadResult {
  jobs: number;
  /** How long the bucket held each request (0: the embedded S3 as is). */
  s3LatencyMs: number;
  lines: number;
  objects: number;
  seconds: number;
  rowsPerSecond: number;
  /** The CLI process's peak resident memory. */
  peakRssMiB: number;
}

/**
 * Writes the results of a run of `jobs` jobs as the worker does (objects of `perObject` lines,
 * 1% of jobs settled twice) into fauxqs's S3 in another process, then runs the shipped CLI
 * (`dist/cli/bin.js`, built by `npm run build`) as a user does: `report <runId> --out run.csv`.
 * The time is the process's, start-up included; with `s3LatencyMs`, every S3 request the CLI
 * makes is held that long and every DynamoDB request as long as AWS's.
 */
export async function measureReportCli(
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
    // The run's record is looked up in the coordination table first, as on AWS.
    coordination: true,
    ...(s3LatencyMs > 0 && {
      storeLatencyMs: { s3: s3LatencyMs, dynamoDb: AWS_STORE_LATENCY_MS.dynamoDb },
    }),
  });
  // Written straight to fauxqs; only the CLI's reads wait as long as S3 would make them.
  const s3 = createLocalS3Client(servers.sqsEndpoint);
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
  s3.destroy();
  const dir = mkdtempSync(join(tmpdir(), "report-bench-"));
  try {
    const out = join(dir, "run.csv");
    const started = performance.now();
    const { stderr } = await promisify(execFile)(
      process.execPath,
      [
        `--import=${PEAK_RSS_PROBE}`,
        SHIPPED_CLI,
        "report",
        runId,
        "--out",
        out,
        "--quiet",
        "--table",
        servers.coordination?.tableName ?? "",
        "--bucket",
        bucketName,
      ],
      {
        env: {
          ...process.env,
          AWS_ENDPOINT_URL_S3: servers.s3Endpoint,
          AWS_ENDPOINT_URL_DYNAMODB: servers.coordination?.endpoint ?? "",
          AWS_REGION: "us-east-1",
          AWS_ACCESS_KEY_ID: "local",
          AWS_SECRET_ACCESS_KEY: "local",
        },
      },
    );
    const seconds = (performance.now() - started) / 1000;
    const rows = readFileSync(out, "utf8").trimEnd().split("\n").length - 1;
    if (rows !== jobs) throw new Error(`report wrote ${rows} rows of ${jobs}`);
    const peakRssKiB = Number(/peak-rss-kib=(\d+)/.exec(stderr)?.[1]);
    return {
      jobs,
      s3LatencyMs,
      lines,
      objects,
      seconds,
      rowsPerSecond: rows / seconds,
      peakRssMiB: peakRssKiB / 1024,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await servers.stop();
  }
}

if (process.argv[1]?.endsWith("report-read.ts")) {
  for (const jobs of (process.argv[2] ?? "100000").split(",").map(Number)) {
    process.stdout.write(
      `${JSON.stringify(await measureReportCli(jobs, Number(process.argv[3] ?? 0)))}\n`,
    );
  }
}
