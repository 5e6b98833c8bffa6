import { existsSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import type { SandboxOptions } from "../local/sandbox-api.ts";
import { startChild } from "./child-process.ts";
import type { FleetWorkerConfig, FleetWorkerReport } from "./fleet-worker-process.ts";
import { AWS_STORE_LATENCY_MS } from "./latency-proxy.ts";
import { BENCH_TOKEN } from "./pipeline-drain.ts";
import { startServers } from "./servers.ts";

export const RESULTS_FILE = new URL("./RESULTS.md", import.meta.url);
const FLEET_HEADING = "\n## The fleet";

/** The fleet's section of bench/RESULTS.md as it stands ("" if there is none). */
export function fleetSectionOf(file: URL): string {
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const at = text.indexOf(FLEET_HEADING);
  return at === -1 ? "" : text.slice(at);
}

/** bench/RESULTS.md with its fleet section replaced by `section` (which starts with its heading). */
export function withFleetSection(file: URL, section: string): string {
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const at = text.indexOf(FLEET_HEADING);
  return `${at === -1 ? text : text.slice(0, at)}\n${section}`;
}

export interface FleetCase {
  name: string;
  locations: number;
  jobs: number;
  /** Separate worker processes, each one Lambda container running one invocation at a time. */
  containers: number;
  order: "interleaved" | "grouped" | "grouped-via-producer";
  /**
   * An agency's skewed mix: `big` locations with `bigJobs` jobs each, the rest with `smallJobs`
   * (then `jobs` must be their sum). The export is grouped by location; `order` still applies.
   */
  skew?: { big: number; bigJobs: number; smallJobs: number };
  burst: { max: number; intervalMs: number };
  /** The sandbox's answer time: fixed, or drawn from a range per request. */
  latencyMs: NonNullable<SandboxOptions["latencyMs"]>;
  /** HighLevel calls in flight per container (WORKER_CONCURRENCY). */
  workerConcurrency: number;
  /** Messages per invocation and the batching window (the event source's settings). */
  batchSize: number;
  batchingWindowSeconds: number;
  functionTimeoutSeconds: number;
  /** BUDGET_WAIT_MS, when not the worker's default. */
  budgetWaitMs?: number;
  /** Each container paces alone, without the coordination table (the comparison). */
  perContainerPacing?: boolean;
}

export interface FleetResult {
  case: FleetCase;
  seconds: number;
  deletionsPerSecond: number;
  /** Deletions per second over the middle 80% of the drain (start-up and tail left out). */
  middleRate: number;
  /** HighLevel's ceiling for these locations: max calls per interval, each. */
  ceilingPerSecond: number;
  calls: number;
  throttled: number;
  deleted: number;
  deadLettered: number;
  handedBack: number;
  deferred: number;
  invocations: number;
  /** Time inside invocations, all containers, seconds: what Lambda bills. */
  busySeconds: number;
  /** Write requests to the coordination table, and the write units they cost (1 KB each). */
  tableWritesPerDeletion: number;
  tableWriteUnitsPerDeletion: number;
  tableReadsPerDeletion: number;
  /** Booking writes whose condition failed, and slots given up as stale, per deletion. */
  tableConflictsPerDeletion: number;
  staleSlotsPerDeletion: number;
  /** CPU time of every process (workers and servers) over the drain, as a share of all cores. */
  cpuBusyShare: number;
  /** Deletions in each second of the drain (the charts). */
  perSecond: number[];
  /**
   * The shortest drain possible, seconds: the largest location's jobs at HighLevel's rate for
   * it, or all jobs at the fleet's capacity (every location's rate, or K containers' calls in
   * flight over the mean answer time, whichever is less), whichever is longer.
   */
  lowerBoundSeconds: number;
}

/** Jobs of each location in a case (its skewed mix, or the jobs spread evenly). */
export function jobsPerLocation(fleet: FleetCase): number[] {
  const { skew } = fleet;
  if (!skew) {
    const even = Math.ceil(fleet.jobs / fleet.locations);
    return Array.from({ length: fleet.locations }, (_, i) =>
      Math.max(0, Math.min(even, fleet.jobs - i * even)),
    );
  }
  return Array.from({ length: fleet.locations }, (_, i) =>
    i < skew.big ? skew.bigJobs : skew.smallJobs,
  );
}

/** See `FleetResult.lowerBoundSeconds`. */
export function drainLowerBound(fleet: FleetCase): number {
  const perLocationRate = fleet.burst.max / (fleet.burst.intervalMs / 1000);
  const meanAnswerSeconds =
    (typeof fleet.latencyMs === "number"
      ? fleet.latencyMs
      : (fleet.latencyMs.min + fleet.latencyMs.max) / 2) / 1000;
  const capacity = Math.min(
    fleet.locations * perLocationRate,
    (fleet.containers * fleet.workerConcurrency) / meanAnswerSeconds,
  );
  const counts = jobsPerLocation(fleet);
  return Math.max(Math.max(...counts) / perLocationRate, fleet.jobs / capacity);
}

/**
 * Drains one queue with K worker processes against the sandbox's fixed windows, with the
 * fleet's budget in the coordination table; the queues, the sandbox and the table live in
 * another process. Times from "start" to the last deletion the sandbox saw.
 */
export async function drainWithFleet(fleet: FleetCase): Promise<FleetResult> {
  const locations = Array.from({ length: fleet.locations }, (_, i) => `fleetLoc${i + 1}`);
  const servers = await startServers({
    sandbox: { tokens: [BENCH_TOKEN], burst: fleet.burst, latencyMs: fleet.latencyMs },
    locations,
    jobs: fleet.jobs,
    visibilityTimeoutSeconds: 6 * fleet.functionTimeoutSeconds + fleet.batchingWindowSeconds,
    enqueue: true,
    order: fleet.order,
    ...(fleet.skew && { jobsPerLocation: jobsPerLocation(fleet) }),
    coordination: true,
    // As deployed: the jobs carry a run, the workers write its records and results, and S3 and
    // DynamoDB (the budget's table too) answer as slowly as AWS's.
    runId: "fleet-run",
    storeLatencyMs: AWS_STORE_LATENCY_MS,
  });
  const config: FleetWorkerConfig = {
    baseUrl: servers.baseUrl,
    token: BENCH_TOKEN,
    sqsEndpoint: servers.sqsEndpoint,
    queues: servers.queues,
    ...(servers.coordination &&
      !fleet.perContainerPacing && { coordination: servers.coordination }),
    workerConcurrency: fleet.workerConcurrency,
    functionTimeoutSeconds: fleet.functionTimeoutSeconds,
    batchSize: fleet.batchSize,
    batchingWindowSeconds: fleet.batchingWindowSeconds,
    ...(fleet.budgetWaitMs !== undefined && { budgetWaitMs: fleet.budgetWaitMs }),
    ...(servers.reportBucket && { reportBucket: servers.reportBucket }),
    s3Endpoint: servers.s3Endpoint,
  };
  const workers = Array.from({ length: fleet.containers }, () => startWorker(config));
  await Promise.all(workers.map((worker) => worker.ready));
  const started = performance.now();
  for (const worker of workers) worker.start();
  let stats = await servers.stats();
  const giveUpAt = Date.now() + 10 * 60_000;
  while (stats.deleted < fleet.jobs && Date.now() < giveUpAt) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    stats = await servers.stats();
  }
  const seconds = (performance.now() - started) / 1000;
  const reports = await Promise.all(workers.map((worker) => worker.stop()));
  if (process.env.FLEET_TRACE) await servers.trace();
  const perSecond = await servers.series();
  await servers.stop();
  const sum = (pick: (report: FleetWorkerReport) => number) =>
    reports.reduce((total, report) => total + pick(report), 0);
  const deleted = stats.deleted;
  return {
    case: fleet,
    seconds,
    deletionsPerSecond: deleted / seconds,
    middleRate: stats.middleRate,
    ceilingPerSecond: (fleet.locations * fleet.burst.max) / (fleet.burst.intervalMs / 1000),
    calls: stats.calls,
    throttled: stats.throttled,
    deleted,
    deadLettered: sum((r) => r.deadLettered),
    handedBack: sum((r) => r.handedBack),
    deferred: sum((r) => r.deferred),
    invocations: sum((r) => r.batches),
    busySeconds: sum((r) => r.busyMs) / 1000,
    tableWritesPerDeletion: sum((r) => r.table.writes) / Math.max(1, deleted),
    // Runs from before write units were counted hold none: a write was a unit then.
    tableWriteUnitsPerDeletion:
      sum((r) => r.table.writeUnits ?? r.table.writes) / Math.max(1, deleted),
    tableReadsPerDeletion: sum((r) => r.table.reads) / Math.max(1, deleted),
    tableConflictsPerDeletion: sum((r) => r.table.conflicts) / Math.max(1, deleted),
    staleSlotsPerDeletion: sum((r) => r.table.staleSlots) / Math.max(1, deleted),
    cpuBusyShare: (sum((r) => r.cpuMs) + stats.cpuMs) / (seconds * 1000 * cpus().length),
    perSecond,
    lowerBoundSeconds: drainLowerBound(fleet),
  };
}

function startWorker(config: FleetWorkerConfig) {
  const worker = startChild("./fleet-worker-process.ts", config, "a fleet worker");
  return {
    ready: worker.nextLine(),
    start: () => worker.send("start"),
    stop: async (): Promise<FleetWorkerReport> => {
      worker.send("stop");
      return JSON.parse(await worker.nextLine()) as FleetWorkerReport;
    },
  };
}
