import { startLocalPipeline } from "../local/local-pipeline.ts";
import { startServers } from "./servers.ts";

export const BENCH_TOKEN = "bench-token-not-a-secret";

export interface DrainResult {
  jobs: number;
  seconds: number;
  deletionsPerSecond: number;
  throttled: number;
  calls: number;
  failed: number;
  /** CPU time of this process (worker + poller + SQS client) per deletion. */
  workerCpuMsPerDeletion: number;
  /**
   * CPU time inside invocations per deletion: the handler's own (what a Lambda container
   * spends), without the event source's receives and deletes. Exact with `maxConcurrency: 1`.
   */
  handlerCpuMsPerDeletion: number;
  /** Time the handler took per batch, averaged. */
  msPerBatch: number;
  batches: number;
}

export interface DrainOptions {
  jobs: number;
  locations: number;
  burst?: { max: number; intervalMs: number };
  latencyMs: number;
  maxConcurrency: number;
  functionTimeoutSeconds: number;
  /** Jobs carry a run id; the worker writes run records and results (else RUN_RECORDS=off). */
  recordRuns?: boolean;
  /** S3 and DynamoDB answering as slowly as AWS's do (see servers-process.ts). */
  storeLatencyMs?: { s3: number; dynamoDb: number };
}

/**
 * Drains `jobs` deletions through the local pipeline (one container, the fleet budget in the
 * coordination table) against a sandbox, queues and table in another process.
 */
export async function drainThroughPipeline(options: DrainOptions): Promise<DrainResult> {
  let batches = 0;
  let batchMs = 0;
  let handlerCpuMs = 0;
  const locations = Array.from({ length: options.locations }, (_, i) => `benchLoc${i + 1}`);
  const servers = await startServers({
    sandbox: {
      tokens: [BENCH_TOKEN],
      ...(options.burst && { burst: options.burst }),
      latencyMs: options.latencyMs,
    },
    locations,
    jobs: options.jobs,
    visibilityTimeoutSeconds: 6 * options.functionTimeoutSeconds,
    enqueue: true,
    // The table lives beside the queues, out of this process, as DynamoDB is out of Lambda's.
    coordination: true,
    ...(options.recordRuns && { runId: "bench-run" }),
    ...(options.storeLatencyMs && { storeLatencyMs: options.storeLatencyMs }),
  });
  const pipeline = await startLocalPipeline({
    highLevelBaseUrl: servers.baseUrl,
    token: BENCH_TOKEN,
    functionTimeoutSeconds: options.functionTimeoutSeconds,
    // The stack's batch size and batching window: under a backlog a batch fills at once.
    maxConcurrency: options.maxConcurrency,
    ...(!options.recordRuns && { workerEnv: { RUN_RECORDS: "off" } }),
    external: {
      endpoint: servers.sqsEndpoint,
      queues: servers.queues,
      ...(servers.coordination && { coordination: servers.coordination }),
      ...(servers.reportBucket && { reportBucket: servers.reportBucket }),
      s3Endpoint: servers.s3Endpoint,
    },
    onBatch: ({ durationMs, cpuMs }) => {
      batches += 1;
      batchMs += durationMs;
      handlerCpuMs += cpuMs;
    },
  });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  pipeline.poller.start();
  await pipeline.waitUntilDrained(new AbortController().signal);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await pipeline.stop();
  const stats = await servers.stats();
  await servers.stop();
  const deleted = pipeline.tally.deleted;
  return {
    jobs: options.jobs,
    seconds,
    deletionsPerSecond: deleted / seconds,
    throttled: stats.throttled,
    calls: stats.calls,
    failed: options.jobs - stats.deleted,
    workerCpuMsPerDeletion: (cpu.user + cpu.system) / 1000 / Math.max(1, deleted),
    handlerCpuMsPerDeletion: handlerCpuMs / Math.max(1, deleted),
    msPerBatch: batchMs / Math.max(1, batches),
    batches,
  };
}
