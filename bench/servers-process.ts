/**
 * The benchmarks' "outside world" in its own process, so that the worker being measured does
 * not share its event loop or CPU time with them: fauxqs (the queues) and the sandbox HighLevel
 * API. Reads a JSON config as argv[2], prints one JSON line with the endpoints, then answers
 * "stats" and "exit" on stdin.
 */
import { createInterface } from "node:readline";
import { interleaveByLocation } from "../functions/core/producers/interleave.ts";
import { startEmbeddedDynamoDb } from "../local/embedded-dynamodb.ts";
import { startEmbeddedSqs } from "../local/embedded-sqs.ts";
import { SandboxHighLevelApi, type SandboxOptions } from "../local/sandbox-api.ts";
import { startLatencyProxy } from "./latency-proxy.ts";

export interface ServersConfig {
  sandbox: SandboxOptions;
  locations: string[];
  jobs: number;
  visibilityTimeoutSeconds: number;
  /** Send the jobs to the queue (the pipeline benchmarks); else only seed uploads. */
  enqueue: boolean;
  /**
   * `grouped`: all of one location's jobs, then the next (a sorted export), sent as is;
   * `grouped-via-producer`: the same export through the producers' interleaving buffer.
   * Default interleaved.
   */
  order?: "interleaved" | "grouped" | "grouped-via-producer";
  /**
   * Jobs of each location, in the order of `locations` (an agency's skewed mix); `jobs` is then
   * their sum. Without it the jobs are spread evenly.
   */
  jobsPerLocation?: number[];
  /** Also serve the coordination table (the fleet benchmark). */
  coordination?: boolean;
  /** Stamp the jobs with this run id and create the report bucket (run records and results). */
  runId?: string;
  /** Uploads created this many days ago (purge benchmarks); default now. */
  uploadAgeDays?: number;
  /**
   * Hold S3 and DynamoDB requests this long, as AWS's answer in tens of ms and the embedded
   * stores in well under one (SQS is left alone: its calls are the event source's, not the
   * handler's).
   */
  storeLatencyMs?: { s3: number; dynamoDb: number };
}

export interface ServersInfo {
  sqsEndpoint: string;
  baseUrl: string;
  queues: {
    queueUrl: string;
    queueArn: string;
    deadLetterQueueUrl: string;
    deadLetterQueueArn: string;
  };
  jobs: Array<{ locationId: string; csvId: string }>;
  coordination?: { endpoint: string; tableName: string };
  reportBucket?: string;
  /** The report bucket's S3 endpoint: fauxqs, or a proxy in front of it (`storeLatencyMs`). */
  s3Endpoint: string;
}

export interface ServersStats {
  calls: number;
  ok: number;
  throttled: number;
  deleted: number;
  /** Deletions per second over the middle 80% of them (from the 10th to the 90th percentile). */
  middleRate: number;
  cpuMs: number;
}

const config = JSON.parse(process.argv[2] ?? "{}") as ServersConfig;
const sqs = await startEmbeddedSqs();
const queues = await sqs.createPipelineQueues("bench-jobs", {
  maxReceiveCount: 5,
  visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
});
const sandbox = new SandboxHighLevelApi(config.sandbox);
const baseUrl = await sandbox.start();
const coordination = config.coordination ? await startEmbeddedDynamoDb() : undefined;
const jobs: ServersInfo["jobs"] = [];
const perLocation = Math.ceil(config.jobs / config.locations.length);
/** Location indexes, grouped (all of one location, then the next) when the mix is skewed. */
const skewed = config.jobsPerLocation?.flatMap((count, index) =>
  Array.from({ length: count }, () => index),
);
for (let i = 0; i < (skewed?.length ?? config.jobs); i++) {
  const index =
    skewed?.[i] ??
    (config.order === "grouped" || config.order === "grouped-via-producer"
      ? Math.floor(i / perLocation)
      : i % config.locations.length);
  const locationId = config.locations[index] as string;
  const createdAt =
    config.uploadAgeDays === undefined
      ? undefined
      : new Date(Date.now() - config.uploadAgeDays * 86_400_000).toISOString();
  jobs.push({
    locationId,
    csvId: sandbox.addUpload(locationId, createdAt ? { createdAt } : {})._id,
  });
}
if (config.enqueue) {
  const name = queues.queueUrl.split("/").pop() as string;
  const ordered =
    config.order === "grouped-via-producer"
      ? interleaveByLocation(jobs.map((job, index) => ({ index, job })))
      : jobs.map((job, index) => ({ index, job }));
  for await (const { job } of ordered) {
    sqs.server.sendMessage(
      name,
      JSON.stringify(config.runId ? { ...job, runId: config.runId } : job),
    );
  }
}
const reportBucket = config.runId ? await sqs.createReportBucket() : undefined;
// fauxqs serves SQS and S3 on one port: SQS's JSON protocol names its action in X-Amz-Target.
const s3Proxy =
  config.storeLatencyMs &&
  (await startLatencyProxy(sqs.endpoint, (request) =>
    request.headers["x-amz-target"] ? 0 : (config.storeLatencyMs?.s3 ?? 0),
  ));
const tableProxy =
  config.storeLatencyMs &&
  coordination &&
  (await startLatencyProxy(coordination.endpoint, () => config.storeLatencyMs?.dynamoDb ?? 0));
const info: ServersInfo = {
  sqsEndpoint: sqs.endpoint,
  s3Endpoint: s3Proxy ? s3Proxy.endpoint : sqs.endpoint,
  baseUrl,
  queues,
  jobs: config.enqueue ? [] : jobs,
  ...(reportBucket && { reportBucket }),
  ...(coordination && {
    coordination: {
      endpoint: tableProxy ? tableProxy.endpoint : coordination.endpoint,
      tableName: coordination.tableName,
    },
  }),
};
process.stdout.write(`${JSON.stringify(info)}\n`);

/** The pace of a drain once under way: the first and last tenth (start-up, tail) left out. */
function middleRate(): number {
  const times = sandbox.calls
    .filter((call) => call.method === "DELETE" && call.status === 200)
    .map((call) => call.at)
    .sort((a, b) => a - b);
  const from = times[Math.floor(times.length * 0.1)];
  const to = times[Math.floor(times.length * 0.9)];
  if (from === undefined || to === undefined || to <= from) return 0;
  return (Math.floor(times.length * 0.9) - Math.floor(times.length * 0.1)) / ((to - from) / 1000);
}

const started = process.cpuUsage();
for await (const line of createInterface({ input: process.stdin })) {
  if (line === "stats") {
    const cpu = process.cpuUsage(started);
    const stats: ServersStats = {
      calls: sandbox.calls.length,
      ok: sandbox.count(200),
      throttled: sandbox.count(429),
      deleted: sandbox.uploads().filter((u) => u.status === "deleted").length,
      middleRate: middleRate(),
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
    process.stdout.write(`${JSON.stringify(stats)}\n`);
  }
  if (line === "series") {
    // Deletions per second from the first call: the shape of the drain, for the charts.
    const first = sandbox.calls[0]?.at ?? 0;
    const perSecond: number[] = [];
    for (const call of sandbox.calls) {
      if (call.method !== "DELETE" || call.status !== 200) continue;
      const second = Math.floor(((call.answeredAt ?? call.at) - first) / 1000);
      while (perSecond.length <= second) perSecond.push(0);
      perSecond[second] = (perSecond[second] ?? 0) + 1;
    }
    process.stdout.write(`${JSON.stringify(perSecond)}\n`);
  }
  if (line === "trace") {
    const first = sandbox.calls[0]?.at ?? 0;
    const rows: Record<string, Record<string, number>> = {};
    for (const call of sandbox.calls) {
      const second = String(
        Math.floor((call.at - first) / Number(process.env.FLEET_TRACE_MS ?? 1000)),
      );
      rows[second] ??= {};
      const key = `${call.locationId}:${call.status}`;
      rows[second][key] = (rows[second][key] ?? 0) + 1;
    }
    process.stderr.write(`${JSON.stringify(rows)}\n`);
    process.stdout.write("{}\n");
  }
  if (line === "exit") break;
}
await s3Proxy?.stop();
await tableProxy?.stop();
await sandbox.stop();
await sqs.stop();
await coordination?.stop();
process.exit(0);
