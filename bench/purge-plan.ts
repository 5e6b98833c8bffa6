/**
 * A dry-run purge over many sub-accounts. The figure users get comes from the CLI the package
 * ships (`dist/cli/bin.js`, built by `npm run build`) run in its own process as a user runs it,
 * `purge --all-locations --token-file tokens.json --dry-run`, against the sandbox (in its own
 * process too) answering in 200–300 ms with 100 calls / 10 s per location; every location has 20
 * old uploads of 5 posts each (~21 calls a location). The "before" case, one location and one
 * read at a time, is the planner in this process with both concurrencies at 1 (the previous
 * CLI's order; that CLI no longer exists to be run).
 */
import "../cli/quiet-worker.ts";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { loadPlannerConfig } from "../functions/core/config.ts";
import type { PurgePlan } from "../functions/core/producers/purge-plan.ts";
import { planPurge } from "../functions/core/producers/purge-planner.ts";
import { parsePurgePolicy } from "../functions/core/producers/purge-policy.ts";
import { createHighLevelRuntime } from "../functions/core/worker/worker-runtime.ts";
import { startServers } from "./servers.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SHIPPED_CLI = join(ROOT, "dist/cli/bin.js");

export interface PurgePlanResult {
  locations: number;
  locationsPlanned: number;
  seconds: number;
  calls: number;
  throttled: number;
  uploads: number;
  callsPerSecond: number;
  /** Locations not planned: failed, or not reached when the time limit stopped it. */
  incomplete: number;
}

const tokenOf = (locationId: string) => `purge-bench-${locationId}`;

async function purgeWorld(locationCount: number) {
  const locations = Array.from({ length: locationCount }, (_, i) => `purgeLoc${i}`);
  const servers = await startServers({
    sandbox: {
      tokens: locations.map(tokenOf),
      burst: { max: 100, intervalMs: 10_000 },
      latencyMs: { min: 200, max: 300 },
    },
    locations,
    jobs: locationCount * 20,
    visibilityTimeoutSeconds: 30,
    enqueue: false,
    uploadAgeDays: 90,
  });
  return { locations, servers };
}

async function resultOf(
  world: Awaited<ReturnType<typeof purgeWorld>>,
  plan: Pick<PurgePlan, "locations" | "totals">,
  seconds: number,
): Promise<PurgePlanResult> {
  const stats = await world.servers.stats();
  await world.servers.stop();
  const planned = plan.locations.filter((l) => !l.incomplete).length;
  return {
    locations: world.locations.length,
    locationsPlanned: planned,
    seconds,
    calls: stats.calls,
    throttled: stats.throttled,
    uploads: plan.totals.listed,
    callsPerSecond: stats.calls / seconds,
    incomplete: world.locations.length - planned,
  };
}

/**
 * The shipped CLI, `purge --all-locations` with a token per location in a token file, at its
 * default concurrency; the time is the process's, start-up included: what the user waits.
 */
export async function measurePurgePlanCli(options: {
  locations: number;
}): Promise<PurgePlanResult> {
  const world = await purgeWorld(options.locations);
  const dir = mkdtempSync(join(tmpdir(), "purge-bench-"));
  try {
    const tokenFile = join(dir, "tokens.json");
    writeFileSync(
      tokenFile,
      JSON.stringify(Object.fromEntries(world.locations.map((id) => [id, tokenOf(id)]))),
    );
    const { HIGHLEVEL_TOKEN: _, ...env } = process.env;
    const started = performance.now();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        SHIPPED_CLI,
        "purge",
        "--all-locations",
        "--token-file",
        tokenFile,
        "--base-url",
        world.servers.baseUrl,
        "--older-than",
        "30d",
        "--dry-run",
        "--json",
        "--quiet",
      ],
      { env, maxBuffer: 64 * 1024 * 1024 },
    );
    const seconds = (performance.now() - started) / 1000;
    return await resultOf(world, JSON.parse(stdout) as PurgePlan, seconds);
  } catch (error) {
    await world.servers.stop();
    throw error;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The planner in this process, one location and one read at a time, cut at `limitSeconds`. */
export async function measurePurgePlanSequential(options: {
  locations: number;
  limitSeconds: number;
}): Promise<PurgePlanResult> {
  const world = await purgeWorld(options.locations);
  const config = loadPlannerConfig({
    HIGHLEVEL_BASE_URL: world.servers.baseUrl,
    // One token for every location, as the previous CLI took it (the sandbox accepts any of its
    // tokens for any location).
    HIGHLEVEL_TOKEN: tokenOf(world.locations[0] ?? ""),
    QUEUE_URL: "http://dry-run.invalid/queue",
  });
  const runtime = createHighLevelRuntime(config, {});
  const started = performance.now();
  // The deadline keeps 3 s back before starting a location: the limit is when starts stop.
  const plan = await planPurge(parsePurgePolicy({ locationIds: world.locations, dryRun: true }), {
    ...runtime,
    sqs: await runtime.sqs(),
    queueUrl: config.queueUrl,
    deadline: Date.now() + options.limitSeconds * 1000 + 3_000,
    locationConcurrency: 1,
    readConcurrency: 1,
  });
  return resultOf(world, plan, (performance.now() - started) / 1000);
}

if (process.argv[1]?.endsWith("purge-plan.ts")) {
  const result = await measurePurgePlanCli({ locations: Number(process.argv[2] ?? 300) });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
