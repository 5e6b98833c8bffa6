import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { compactUtc } from "../functions/core/runs/run-id.ts";
import { runProgress } from "../functions/core/runs/run-record.ts";
import { RunTable } from "../functions/core/runs/run-table.ts";
import type { RunView } from "../functions/core/runs/runs-api.ts";
import { type DemoKind, seedDemo } from "./demo-scenario.ts";
import { startLocalPipeline } from "./local-pipeline.ts";
import { buildRunReport, type RunReport } from "./run-report.ts";
import { SandboxHighLevelApi } from "./sandbox-api.ts";

export const DEMO_TOKEN = "demo-token-not-a-secret";

export interface DemoOptions {
  /** Uploads per location (4 locations). Default 40. */
  perLocation?: number;
  /** The local function timeout; the queue's visibility timeout is 6× this + the batching window. */
  functionTimeoutSeconds?: number;
  signal?: AbortSignal;
  onProgress?: (progress: DemoProgress) => void;
  /**
   * Keep the run's queue, record and results here (emptied first), so that `runs` and
   * `report --data-dir` read them after the demo; in memory when absent.
   */
  dataDir?: string;
}

export interface DemoProgress {
  total: number;
  finished: number;
  deleted: number;
  alreadyAbsent: number;
  deadLettered: number;
  deferred: number;
  redelivered: number;
  throttled429: number;
  /** Calls the rate pacer held back until HighLevel's window turned over. */
  pacedWaits: number;
  elapsedMs: number;
}

export interface DemoReport extends RunReport {
  /** The demo's run: `runs show` and `report` name it. */
  runId: string;
  /** What the run's record says at the end (as `runs show` would). */
  run?: RunView;
  throttled429: number;
  pacedWaits: number;
  jobsByKind: Record<DemoKind, number>;
  /** The sandbox's own state matches what the run reported. */
  sandboxAgrees: boolean;
  /** Uploads a valid job named that the sandbox still holds and would let be deleted. */
  uploadsLeft: number;
  interrupted: boolean;
}

/**
 * The demo behind `npm start`: the sandbox HighLevel API with four locations and uploads of
 * every kind, a burst limit low enough that pacing shows, faults injected, and the whole
 * pipeline draining the queue.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const sandbox = new SandboxHighLevelApi({
    tokens: [DEMO_TOKEN],
    burst: { max: 20, intervalMs: 2_000 },
    latencyMs: 15,
    faults: { serverErrorRate: 0.05, resetRate: 0.02, slowRate: 0.01 },
    slowMs: 2_500,
    seed: 2026,
  });
  const baseUrl = await sandbox.start();
  const runId = `demo-${compactUtc(new Date())}-${randomBytes(2).toString("hex")}`;
  const jobs = seedDemo(sandbox, options.perLocation ?? 40).map((job) => ({
    ...job,
    body: withRunId(job.body, runId),
  }));
  if (options.dataDir) {
    rmSync(options.dataDir, { recursive: true, force: true });
    mkdirSync(options.dataDir, { recursive: true });
  }
  const pipeline = await startLocalPipeline({
    highLevelBaseUrl: baseUrl,
    token: DEMO_TOKEN,
    functionTimeoutSeconds: options.functionTimeoutSeconds ?? 2,
    workerEnv: { HIGHLEVEL_TIMEOUT_MS: "1000" },
    ...(options.dataDir && { dataDir: options.dataDir }),
  });
  const { coordination, dynamoDb } = pipeline.runs;
  const runTable =
    coordination && dynamoDb && new RunTable(async () => dynamoDb, coordination.tableName);
  const startedAt = Date.now();
  const signal = options.signal ?? new AbortController().signal;
  try {
    await runTable?.openRun(runId, { source: "enqueue", label: "npm start demo" });
    await pipeline.sendBodies(jobs.map((job) => job.body));
    // Its total: the bodies that carry its id ("this is not JSON" counts under `unlabelled`).
    const inRun = jobs.filter((job) => job.body.includes(`"runId":"${runId}"`)).length;
    await runTable?.closeEnqueue(runId, inRun);
    pipeline.poller.start();
    const drained = await pipeline.waitUntilDrained(signal, () => {
      const { tally } = pipeline;
      options.onProgress?.({
        total: jobs.length,
        finished: tally.finished,
        deleted: tally.deleted,
        alreadyAbsent: tally.alreadyAbsent,
        deadLettered: tally.deadLetteredTotal,
        deferred: tally.deferred,
        redelivered: tally.redelivered,
        throttled429: sandbox.count(429),
        pacedWaits: pipeline.pacer.waits.count,
        elapsedMs: Date.now() - startedAt,
      });
    });
    await pipeline.poller.stop();
    const report = await buildRunReport(pipeline, {
      startedAt,
      enqueued: jobs.length,
      pendingAtStart: 0,
      deadLettersAtStart: 0,
    });
    const record = await runTable?.getRun(runId);
    const jobsByKind = {} as Record<DemoKind, number>;
    for (const job of jobs) jobsByKind[job.kind] = (jobsByKind[job.kind] ?? 0) + 1;
    const uploadsLeft = countUploadsLeft(
      sandbox,
      jobs.map((job) => job.body),
    );
    return {
      runId,
      ...(record && { run: { ...record, ...runProgress(record) } }),
      ...report,
      throttled429: sandbox.count(429),
      pacedWaits: pipeline.pacer.waits.count,
      jobsByKind,
      sandboxAgrees: uploadsLeft === 0,
      uploadsLeft,
      interrupted: !drained,
    };
  } finally {
    await pipeline.stop();
    await sandbox.stop();
  }
}

/** The body with the run id added, when it is a JSON object (invalid bodies stay as they are). */
function withRunId(body: string, runId: string): string {
  try {
    const value: unknown = JSON.parse(body);
    if (value && typeof value === "object" && !Array.isArray(value)) {
      return JSON.stringify({ ...value, runId });
    }
  } catch {
    // not JSON: sent as is, counted under `unlabelled`
  }
  return body;
}

/** Uploads a valid job named that are not deleted now, HighLevel's refusals aside. */
function countUploadsLeft(sandbox: SandboxHighLevelApi, bodies: string[]): number {
  let left = 0;
  for (const body of bodies) {
    let job: { locationId?: unknown; csvId?: unknown };
    try {
      job = JSON.parse(body);
    } catch {
      continue;
    }
    if (typeof job.locationId !== "string" || typeof job.csvId !== "string") continue;
    const upload = sandbox.upload(job.locationId, job.csvId);
    if (!upload) continue;
    const refused = upload.status === "importing" || upload.status === "in_progress";
    if (!refused && upload.status !== "deleted") left += 1;
  }
  return left;
}
