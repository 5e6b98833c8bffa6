import type { IndexedJob } from "./enqueue.ts";

/** Jobs held at most while interleaving: memory stays flat for a file of any length. */
export const INTERLEAVE_BUFFER = 10_000;

/**
 * Reorders jobs round-robin across locations within a bounded buffer, so that a sorted export
 * (all of one location, then the next) reaches the queue mixed: each worker batch then spans
 * several locations' budgets instead of waiting on one. Every job comes out exactly once; the
 * order within a location is kept.
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
  /** Takes one job from each location in turn (a round), oldest location first. */
  const round = function* () {
    for (const [locationId, queue] of byLocation) {
      const job = queue.shift();
      if (job) {
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
