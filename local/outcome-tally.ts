import type { JobResult } from "../functions/core/worker/deletion-worker.ts";

/** A message's ends: a copy removed for its first copy's sake ends too (and counts apart). */
const ENDS = new Set<JobResult["outcome"]>([
  "deleted",
  "already-absent",
  "dead-lettered",
  "duplicate-removed",
]);

/**
 * Running counts of what the worker did, fed by the handler's `onSettled` hook. A message's end
 * (deleted, already absent, dead-lettered) counts once: an invocation that overran its timeout
 * may have deleted a job before the poller stopped it (`invocation-scope.ts`), while SQS
 * delivers its messages again; the second end of one message (`already-absent` after
 * `deleted`) is the echo of the first, not another job. A deferral (a new message carrying its
 * first message's id) ends for that first message. A copy removed at once whose invocation then
 * overran comes back too (the removal may have failed): its later end is the same message's.
 */
export class OutcomeTally {
  /** Messages whose end was counted: about 80 bytes each, a million jobs in about 80 MB. */
  readonly #ended = new Set<string>();
  deleted = 0;
  alreadyAbsent = 0;
  deadLettered: Record<string, number> = {};
  deferred = 0;
  redelivered = 0;
  duplicates = 0;
  /** Copies of a job removed because another copy in the batch was parked or kept. */
  duplicatesRemoved = 0;
  /** Jobs handed back to the queue while their location's budget was booked. */
  handedBack = 0;
  calls = 0;

  readonly record = (result: JobResult): void => {
    this.calls += result.calls;
    if (result.duplicate) this.duplicates += 1;
    if (ENDS.has(result.outcome)) {
      // A deferral is the same job as the message it replaced: both can end when an invocation
      // stopped between sending the deferral and removing the original.
      const job = result.originId ?? result.messageId;
      if (this.#ended.has(job)) return;
      this.#ended.add(job);
    }
    switch (result.outcome) {
      case "deleted":
        this.deleted += 1;
        break;
      case "already-absent":
        this.alreadyAbsent += 1;
        break;
      case "dead-lettered": {
        const reason = result.reason ?? "unknown";
        this.deadLettered[reason] = (this.deadLettered[reason] ?? 0) + 1;
        break;
      }
      case "deferred":
        this.deferred += 1;
        break;
      case "redelivered":
        this.redelivered += 1;
        break;
      case "handed-back":
        this.handedBack += 1;
        break;
      case "duplicate-removed":
        this.duplicatesRemoved += 1;
        break;
    }
  };

  get deadLetteredTotal(): number {
    return Object.values(this.deadLettered).reduce((sum, n) => sum + n, 0);
  }

  /** Jobs that reached an end: deleted, already absent, or dead-lettered by the worker. */
  get finished(): number {
    return this.deleted + this.alreadyAbsent + this.deadLetteredTotal;
  }
}
