/**
 * One Lambda container of the fleet benchmark, in its own process (its own memory, its own
 * event loop): the real delete-csv handler driven by a poller with one invocation at a time, as
 * a container runs them. Reads its config as argv[2]; prints "ready"; starts on "start"; on
 * "stop" finishes its batch and prints its tally and coordination-table requests as JSON.
 */
import "../cli/quiet-worker.ts";
import { createInterface } from "node:readline";
import { FleetBudget } from "../functions/core/highlevel/fleet-budget.ts";
import type { PipelineQueues } from "../local/embedded-sqs.ts";
import { startLocalPipeline } from "../local/local-pipeline.ts";

export interface FleetWorkerConfig {
  baseUrl: string;
  token: string;
  sqsEndpoint: string;
  queues: PipelineQueues;
  coordination?: { endpoint: string; tableName: string };
  workerConcurrency: number;
  functionTimeoutSeconds: number;
  batchSize: number;
  batchingWindowSeconds: number;
  /** BUDGET_WAIT_MS of the worker, when the case sets one. */
  budgetWaitMs?: number;
  /** Write run results to this bucket on the SQS endpoint (fauxqs serves S3 too). */
  reportBucket?: string;
  /** Reach the bucket here instead (a proxy holding requests as long as S3 would). */
  s3Endpoint?: string;
  /** Extra worker environment. */
  workerEnv?: Record<string, string>;
}

export interface FleetWorkerReport {
  deleted: number;
  alreadyAbsent: number;
  deadLettered: number;
  handedBack: number;
  deferred: number;
  redelivered: number;
  batches: number;
  /** Time spent inside invocations, ms: what Lambda bills. */
  busyMs: number;
  /** CPU time this process used (user + system), ms. */
  cpuMs: number;
  table: {
    writes: number;
    writeUnits: number;
    reads: number;
    conflicts: number;
    staleSlots: number;
  };
}

const config = JSON.parse(process.argv[2] ?? "{}") as FleetWorkerConfig;
let batches = 0;
let busyMs = 0;
let cpuAtStart = process.cpuUsage();
const pipeline = await startLocalPipeline({
  highLevelBaseUrl: config.baseUrl,
  token: config.token,
  functionTimeoutSeconds: config.functionTimeoutSeconds,
  batchSize: config.batchSize,
  batchingWindowSeconds: config.batchingWindowSeconds,
  maxConcurrency: 1,
  workerEnv: {
    WORKER_CONCURRENCY: String(config.workerConcurrency),
    ...(config.budgetWaitMs !== undefined && { BUDGET_WAIT_MS: String(config.budgetWaitMs) }),
    ...config.workerEnv,
  },
  external: {
    endpoint: config.sqsEndpoint,
    queues: config.queues,
    ...(config.coordination && { coordination: config.coordination }),
    ...(config.reportBucket && { reportBucket: config.reportBucket }),
    ...(config.s3Endpoint && { s3Endpoint: config.s3Endpoint }),
  },
  perContainerPacing: !config.coordination,
  budgetLog: {
    debug: () => {},
    info: () => {},
    warn: (message, ...extra) =>
      process.stderr.write(`fleet worker: ${message} ${JSON.stringify(extra)}\n`),
    error: () => {},
  },
  onBatch: ({ durationMs }) => {
    batches += 1;
    busyMs += durationMs;
  },
});
process.stdout.write("ready\n");
for await (const line of createInterface({ input: process.stdin })) {
  if (line === "start") {
    cpuAtStart = process.cpuUsage();
    pipeline.poller.start();
  }
  if (line === "stop") break;
}
await pipeline.stop();
const { tally, pacer } = pipeline;
const report: FleetWorkerReport = {
  deleted: tally.deleted,
  alreadyAbsent: tally.alreadyAbsent,
  deadLettered: tally.deadLetteredTotal,
  handedBack: tally.handedBack,
  deferred: tally.deferred,
  redelivered: tally.redelivered,
  batches,
  busyMs,
  cpuMs: (process.cpuUsage(cpuAtStart).user + process.cpuUsage(cpuAtStart).system) / 1000,
  table:
    pacer instanceof FleetBudget
      ? pacer.requests
      : { writes: 0, writeUnits: 0, reads: 0, conflicts: 0, staleSlots: 0 },
};
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(0);
