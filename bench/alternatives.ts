import { HighLevel } from "@gohighlevel/api-client";
import ky from "ky";
import pLimit from "p-limit";
import { BENCH_TOKEN } from "./pipeline-drain.ts";
import { startServers } from "./servers.ts";

export interface AlternativeResult {
  name: string;
  seconds: number;
  deletionsPerSecond: number;
  throttled: number;
  calls: number;
  failed: number;
}

interface AlternativeOptions {
  jobs: number;
  locations: number;
  burst: { max: number; intervalMs: number };
  latencyMs: number;
  concurrency: number;
}

type DeleteOne = (baseUrl: string, job: { locationId: string; csvId: string }) => Promise<void>;

/** The official SDK with its 429 retry switched on, the way its README suggests. */
export function officialSdk(): { name: string; prepare: (baseUrl: string) => DeleteOne } {
  return {
    name: "@gohighlevel/api-client (rateLimitRetry on)",
    prepare: (baseUrl) => {
      // The SDK sends Version 2023-02-21 by default; the endpoint documents only 2021-07-28.
      const ghl = new HighLevel({
        privateIntegrationToken: BENCH_TOKEN,
        apiVersion: "2021-07-28",
        rateLimitRetry: true,
        logLevel: "none",
      });
      ghl.getHttpClient().defaults.baseURL = baseUrl;
      return async (_url, job) => {
        await ghl.socialMediaPosting.deleteCsv({ locationId: job.locationId, id: job.csvId });
      };
    },
  };
}

/** What many would write first: ky in a Promise.all, no pacing, no retry. */
export function plainKy(): { name: string; prepare: (baseUrl: string) => DeleteOne } {
  return {
    name: "ky + Promise.all, no pacing",
    prepare: () => async (baseUrl, job) => {
      await ky.delete(`${baseUrl}/social-media-posting/${job.locationId}/csv/${job.csvId}`, {
        headers: {
          Authorization: `Bearer ${BENCH_TOKEN}`,
          Version: "2021-07-28",
          Accept: "application/json",
        },
        retry: 0,
      });
    },
  };
}

/** Deletes the same seeded jobs with an alternative client at a fixed concurrency. */
export async function runAlternative(
  alternative: { name: string; prepare: (baseUrl: string) => DeleteOne },
  options: AlternativeOptions,
): Promise<AlternativeResult> {
  const locations = Array.from({ length: options.locations }, (_, i) => `benchLoc${i + 1}`);
  const servers = await startServers({
    sandbox: { tokens: [BENCH_TOKEN], burst: options.burst, latencyMs: options.latencyMs },
    locations,
    jobs: options.jobs,
    visibilityTimeoutSeconds: 30,
    enqueue: false,
  });
  const deleteOne = alternative.prepare(servers.baseUrl);
  const limit = pLimit(options.concurrency);
  const started = performance.now();
  await Promise.all(
    servers.jobs.map((job) => limit(() => deleteOne(servers.baseUrl, job).catch(() => undefined))),
  );
  const seconds = (performance.now() - started) / 1000;
  const stats = await servers.stats();
  await servers.stop();
  return {
    name: alternative.name,
    seconds,
    deletionsPerSecond: stats.deleted / seconds,
    throttled: stats.throttled,
    calls: stats.calls,
    failed: options.jobs - stats.deleted,
  };
}
