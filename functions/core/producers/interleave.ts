import type { IndexedJob } from "./deletion-job.ts";

/** Jobs held at most while interleaving: memory stays flat for a file of any length. */
export const INTERLEAVE_BUFFER = 10_000;

/**
 * Reorders jobs across locations within a bounded buffer, so that a sorted export (all of one
 * location, then the next) reaches the queue mixed: each worker batch then spans several
 * locations' budgets instead of waiting on one. Locations are spread in proportion to their
 * jobs: each round takes from every location its share of what it holds (a location with 60
 * times the jobs of the smallest gives 60 a round), so an agency's few large sub-accounts are
 * worked at their full rate from the first batch instead of waiting behind every small one's
 * jobs, which is what bounds such a drain. Evenly sized locations come out round-robin. Every
 * job comes out exactly once; the order within a location is kept.
 *
 * @example
 * for await (const job of interleaveByLocation(readJobs(file))) send(job);
 */
export async function* interleaveByLocation(
  jobs: AsyncIterable<IndexedJob> | Iterable<IndexedJob>,
  bufferSize = INTERLEAVE_BUFFER,
): AsyncGenerator<IndexedJob> {
  const byLocation = new Map<string, IndexedJob[]>();
  let held = 0;
  /** Takes each location's share in turn (a round), oldest location first. */
  const round = function* () {
    let fewest = Number.POSITIVE_INFINITY;
    for (const queue of byLocation.values()) fewest = Math.min(fewest, queue.length);
    for (const [locationId, queue] of byLocation) {
      const share = Math.max(1, Math.round(queue.length / fewest));
      for (const job of queue.splice(0, share)) {
        held -= 1;
        yield job;
      }
      if (queue.length === 0) byLocation.delete(locationId);
    }
  };
  for await (const job of jobs) {
    const queue = byLocation.get(job.job.locationId);
    if (queue) queue.push(job);
    else byLocation.set(job.job.locationId, [job]);
    held += 1;
    if (held >= bufferSize) yield* round();
  }
  while (held > 0) yield* round();
}
