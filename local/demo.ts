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
  throttled429: number;
  pacedWaits: number;
  jobsByKind: Record<DemoKind, number>;
  /** The sandbox's own state matches what the run reported. */
  sandboxAgrees: boolean;
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
  const jobs = seedDemo(sandbox, options.perLocation ?? 40);
  const pipeline = await startLocalPipeline({
    highLevelBaseUrl: baseUrl,
    token: DEMO_TOKEN,
    functionTimeoutSeconds: options.functionTimeoutSeconds ?? 2,
    workerEnv: { HIGHLEVEL_TIMEOUT_MS: "1000" },
  });
  const startedAt = Date.now();
  const signal = options.signal ?? new AbortController().signal;
  try {
    await pipeline.sendBodies(jobs.map((job) => job.body));
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
    const jobsByKind = {} as Record<DemoKind, number>;
    for (const job of jobs) jobsByKind[job.kind] = (jobsByKind[job.kind] ?? 0) + 1;
    return {
      ...report,
      throttled429: sandbox.count(429),
      pacedWaits: pipeline.pacer.waits.count,
      jobsByKind,
      sandboxAgrees: sandboxAgrees(
        sandbox,
        jobs.map((job) => job.body),
      ),
      interrupted: !drained,
    };
  } finally {
    await pipeline.stop();
    await sandbox.stop();
  }
}

/** Every upload a valid job named is deleted now, except those HighLevel refuses to delete. */
function sandboxAgrees(sandbox: SandboxHighLevelApi, bodies: string[]): boolean {
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
    if (!refused && upload.status !== "deleted") return false;
  }
  return true;
}
