import type { BudgetCapacity } from "../highlevel/rate-pacer.ts";
import { type JobParseResult, jobKey } from "../producers/deletion-job.ts";

/** What one batch will ask of HighLevel, decided before any job starts. */
export interface BatchPlan {
  /** Distinct jobs kept per location: the calls its budget is told to expect. */
  calls: ReadonlyMap<string, number>;
  /**
   * Job keys beyond what their location's budget serves in this invocation, handed back
   * unstarted, each with when its turn would come (epoch ms): it is due back on the queue then.
   */
  surplus: ReadonlyMap<string, number>;
}

/**
 * Splits a batch by location: each location keeps, in batch order, as many distinct jobs as
 * `capacityOf` says its budget serves before the invocation's horizon (all of them when it
 * cannot tell); the rest are surplus. A hot location then never holds a whole batch while its
 * jobs wait, and a batch spread over many locations is kept whole.
 *
 * @example
 * planBatch(parsedJobs, (locationId) =>
 *   locationId === "hot" ? { calls: 3, from: now, spacingMs: 100 } : undefined)
 * // → { calls: Map { hot → 3, cold → 2 }, surplus: Map { "hot/csv4" → now + 300, "hot/csv5" → now + 400 } }
 */
export function planBatch(
  parsed: Iterable<JobParseResult>,
  capacityOf: (locationId: string) => BudgetCapacity | undefined,
): BatchPlan {
  const byLocation = new Map<string, Set<string>>();
  for (const result of parsed) {
    if (!result.ok) continue;
    const { locationId } = result.job;
    let keys = byLocation.get(locationId);
    if (!keys) {
      keys = new Set();
      byLocation.set(locationId, keys);
    }
    keys.add(jobKey(result.job));
  }
  const calls = new Map<string, number>();
  const surplus = new Map<string, number>();
  for (const [locationId, keys] of byLocation) {
    const capacity = capacityOf(locationId);
    const kept =
      capacity === undefined ? keys.size : Math.max(0, Math.min(keys.size, capacity.calls));
    calls.set(locationId, kept);
    let position = 0;
    for (const key of keys) {
      if (capacity && position >= kept) {
        surplus.set(key, capacity.from + position * capacity.spacingMs);
      }
      position += 1;
    }
  }
  return { calls, surplus };
}
