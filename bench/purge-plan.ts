/**
 * A dry-run purge over many sub-accounts, as `purge --all-locations --dry-run` runs it: the
 * sandbox (in its own process) answering in 200–300 ms with 100 calls / 10 s per location,
 * every location with 20 old uploads of 5 posts each (~21 calls a location).
 */
import "../cli/quiet-worker.ts";
import { loadPlannerConfig } from "../functions/core/config.ts";
import { planPurge } from "../functions/core/producers/purge-planner.ts";
import { parsePurgePolicy } from "../functions/core/producers/purge-policy.ts";
import { createHighLevelRuntime } from "../functions/core/worker/worker-runtime.ts";
import { startServers } from "./servers.ts";

const TOKEN = "purge-bench-token";

export interface PurgePlanResult {
  locations: number;
  locationsPlanned: number;
  seconds: number;
  calls: number;
  throttled: number;
  uploads: number;
  callsPerSecond: number;
  /** Locations planned when the time limit stopped it (the sequential case is cut short). */
  incomplete: number;
}

export async function measurePurgePlan(options: {
  locations: number;
  locationConcurrency: number;
  readConcurrency: number;
  /** Stop starting locations after this long (the "before" case would take ~27 minutes). */
  limitSeconds: number;
}): Promise<PurgePlanResult> {
  const locations = Array.from({ length: options.locations }, (_, i) => `purgeLoc${i}`);
  const servers = await startServers({
    sandbox: {
      tokens: [TOKEN],
      burst: { max: 100, intervalMs: 10_000 },
      latencyMs: { min: 200, max: 300 },
    },
    locations,
    jobs: options.locations * 20,
    visibilityTimeoutSeconds: 30,
    enqueue: false,
    uploadAgeDays: 90,
  });
  const config = loadPlannerConfig({
    HIGHLEVEL_BASE_URL: servers.baseUrl,
    HIGHLEVEL_TOKEN: TOKEN,
    QUEUE_URL: "http://dry-run.invalid/queue",
  });
  const runtime = createHighLevelRuntime(config, {});
  const started = performance.now();
  // The deadline keeps 3 s back before starting a location: the limit is when starts stop.
  const plan = await planPurge(parsePurgePolicy({ locationIds: locations, dryRun: true }), {
    ...runtime,
    sqs: await runtime.sqs(),
    queueUrl: config.queueUrl,
    deadline: Date.now() + options.limitSeconds * 1000 + 3_000,
    locationConcurrency: options.locationConcurrency,
    readConcurrency: options.readConcurrency,
  });
  const seconds = (performance.now() - started) / 1000;
  const stats = await servers.stats();
  await servers.stop();
  const planned = plan.locations.filter((l) => !l.incomplete).length;
  return {
    locations: options.locations,
    locationsPlanned: planned,
    seconds,
    calls: stats.calls,
    throttled: stats.throttled,
    uploads: plan.totals.listed,
    callsPerSecond: stats.calls / seconds,
    incomplete: plan.locations.length - planned,
  };
}

if (process.argv[1]?.endsWith("purge-plan.ts")) {
  const [concurrency = "16", reads = "5", limit = "120"] = process.argv.slice(2);
  const result = await measurePurgePlan({
    locations: 300,
    locationConcurrency: Number(concurrency),
    readConcurrency: Number(reads),
    limitSeconds: Number(limit),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
