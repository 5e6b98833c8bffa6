import { clip } from "../detail.ts";
import { type DeletionJob, jobKey, parseDeletionJob } from "../producers/deletion-job.ts";
import { planBatch } from "./batch-plan.ts";
import { decideDisposition, type Verdict } from "./outcome.ts";
import { describeError, handBack, logContext, park, removeAtOnce } from "./parking.ts";
import type { QueueMessage } from "./queue-message.ts";
import { lookBeforeExhausting, resolveVerdict, type VerdictTiming } from "./resolve-verdict.ts";
import { runEntry } from "./run-entry.ts";
import { TAIL_RELEASE_MS, TailRelease } from "./tail-release.ts";
import type { JobResult, WorkerDeps } from "./worker-types.ts";

export type { WorkerLog } from "../worker-log.ts";
export type { JobOutcome, JobResult, WorkerDeps } from "./worker-types.ts";

/**
 * Time kept back at the end of an invocation to dead-letter, defer and answer Lambda: 1.5 s,
 * or a fifth of the invocation when that is shorter (local runs use short timeouts).
 */
export const SETTLE_RESERVE_MS = 1_500;
/** A job is not started with less than 1 s (or a quarter of the invocation) before the deadline. */
export const MIN_START_MS = 1_000;
/**
 * Settles the messages of one batch. Every job starts at once and waits for its location's
 * slot on a timer, so jobs go in slot order and the calls in flight are bounded by the client
 * (`WORKER_CONCURRENCY`), not by jobs waiting. Each job key is worked once however many
 * messages carry it (the other copies share its fate). A location keeps no more jobs than its
 * budget serves before the horizon (`budgetWaitMs`, at most the work deadline); the surplus is
 * handed back at once. No call starts when too little time is left (those jobs are
 * redelivered by SQS, or sent back to the queue on their last receive). Every await ends
 * before the invocation's deadline, so Lambda always gets an answer.
 *
 * @example
 * const settle = createBatchSettler(deps, () => context.getRemainingTimeInMillis(), messages);
 * const results = await Promise.all(messages.map(settle));
 */
export function createBatchSettler(
  deps: WorkerDeps,
  remainingTimeMs: () => number,
  batch: readonly Pick<QueueMessage, "body">[] = [],
) {
  const remaining = remainingTimeMs();
  const invocationEnd = Date.now() + remaining;
  // HighLevel work stops here; parking (dead letters, deferrals) may go on until `answerBy`.
  const workDeadline = invocationEnd - Math.max(100, Math.min(SETTLE_RESERVE_MS, remaining / 5));
  const answerBy = invocationEnd - Math.max(20, Math.min(250, remaining / 10));
  const minimumStart = Math.max(100, Math.min(MIN_START_MS, remaining / 4));
  // No call starts later than this: its answer could not be waited for.
  const startBy = workDeadline - minimumStart;
  const horizon = Math.min(startBy, Date.now() + deps.config.budgetWaitMs);
  // Each body is parsed once: to plan the batch, then to settle it.
  const parsedBodies = new Map(batch.map(({ body }) => [body, parseDeletionJob(body)]));
  const plan = planBatch(parsedBodies.values(), (locationId) =>
    deps.client.capacity(locationId, horizon),
  );
  for (const [locationId, calls] of plan.calls) {
    if (calls > 0) deps.client.expectCalls(locationId, calls);
  }
  const firstCopies = new Map<string, Promise<JobResult>>();
  const tail = new TailRelease(TAIL_RELEASE_MS, deps.stopping);

  const settleJob = async (message: QueueMessage): Promise<JobResult> => {
    const parsed = parsedBodies.get(message.body) ?? parseDeletionJob(message.body);
    if (!parsed.ok) {
      return settle(deps, message, { kind: "invalid-job", detail: parsed.error }, answerBy);
    }
    const job = parsed.job;
    const first = firstCopies.get(jobKey(job));
    if (first) {
      return settleDuplicate(deps, message, job, await first, answerBy);
    }
    const own = (async () => {
      if (startBy - Date.now() < 0) {
        return settleUnstarted(deps, message, job, answerBy);
      }
      const turnAt = plan.surplus.get(jobKey(job));
      if (turnAt !== undefined) {
        return settle(deps, message, surplusVerdict(turnAt), answerBy, job);
      }
      tail.started();
      const timing = {
        deadline: workDeadline,
        startBy,
        release: tail.signal,
        onSlotWait: tail.slotWait,
      };
      const verdict = await resolveVerdict(job, deps, timing)
        .then((found) => lookIfExhausting(deps, message, job, found, timing))
        .finally(tail.settled);
      return settle(deps, message, verdict, answerBy, job);
    })();
    firstCopies.set(jobKey(job), own);
    return own;
  };
  return settleJob;
}

/** A verdict that would dead-letter the job as exhausted is checked with a GET first. */
function lookIfExhausting(
  deps: WorkerDeps,
  message: QueueMessage,
  job: DeletionJob,
  verdict: Verdict,
  timing: VerdictTiming,
): Promise<Verdict> | Verdict {
  if (verdict.kind !== "transient") return verdict;
  const disposition = decideDisposition(verdict, deliveryFacts(deps, message));
  if (disposition.action !== "dead-letter" || disposition.reason !== "exhausted") return verdict;
  return lookBeforeExhausting(job, verdict, deps, timing);
}

function deliveryFacts(deps: WorkerDeps, message: QueueMessage) {
  return {
    receiveCount: message.receiveCount,
    maxReceiveCount: deps.config.maxReceiveCount,
    deferrals: message.deferrals,
    maxDeferrals: deps.config.maxDeferrals,
  };
}

/** A job its location's budget cannot serve in this invocation: back on the queue until its turn. */
function surplusVerdict(turnAt: number): Verdict {
  return {
    kind: "throttled",
    budgetWait: true,
    retryAfterMs: Math.max(1_000, turnAt - Date.now()),
    detail: "its location's budget is booked for this invocation",
    attempts: 0,
  };
}

function deferralMessage(verdict: Verdict): string {
  if (verdict.kind === "throttled" && verdict.tokenExpired) {
    return "job deferred: waiting for the token refresher";
  }
  const untried =
    (verdict.kind === "transient" && verdict.attempts === 0) ||
    (verdict.kind === "throttled" && verdict.attempts === 0 && verdict.retryAfterMs === 0);
  if (untried) {
    return "job deferred: its last delivery had no time left to try it";
  }
  if (verdict.kind === "transient" && verdict.outOfTime) {
    return "job deferred: its last delivery ran out of time before its tries were done";
  }
  return "job deferred: rate budget exhausted";
}

/** A job there was no time to start: redelivered, or sent back when this was its last receive. */
function settleUnstarted(
  deps: WorkerDeps,
  message: QueueMessage,
  job: DeletionJob,
  answerBy: number,
): Promise<JobResult> | JobResult {
  deps.log.warn("not started: too little time left in the invocation", logContext(message, job));
  if (message.receiveCount >= deps.config.maxReceiveCount) {
    // Redelivering it would let SQS move a job nobody tried to the DLQ: send it back instead.
    const notStarted: Verdict = {
      kind: "throttled",
      retryAfterMs: 0,
      detail: "not started",
      attempts: 0,
    };
    return settle(deps, message, notStarted, answerBy, job);
  }
  return result(deps, { ...idsOf(message), outcome: "redelivered", calls: 0 });
}

/** Another copy of a job this batch already worked on shares that copy's fate. */
async function settleDuplicate(
  deps: WorkerDeps,
  message: QueueMessage,
  job: DeletionJob,
  first: JobResult,
  answerBy: number,
): Promise<JobResult> {
  const base = {
    ...idsOf(message),
    calls: 0,
    duplicate: true,
    run: runEntry(message, job, undefined),
  };
  if (first.outcome === "deleted" || first.outcome === "already-absent") {
    // The upload is gone now: the copy has nothing left to delete.
    return result(deps, { ...base, outcome: "already-absent" });
  }
  // The first copy is parked or stays on the queue: this one is removed at once, so that no
  // later delivery makes a second dead letter or deferral of the same job.
  await removeAtOnce(deps, message, job, answerBy);
  deps.log.debug("duplicate copy removed", logContext(message, job), {
    firstCopy: first.messageId,
    firstOutcome: first.outcome,
  });
  return result(deps, { ...base, outcome: "duplicate-removed" });
}

async function settle(
  deps: WorkerDeps,
  message: QueueMessage,
  verdict: Verdict,
  answerBy: number,
  job?: DeletionJob,
): Promise<JobResult> {
  const calls = verdict.kind === "invalid-job" ? 0 : verdict.attempts;
  const base = {
    ...idsOf(message),
    calls,
    ...(verdict.kind === "throttled" && verdict.tokenExpired && { tokenExpired: true }),
  };
  const disposition = decideDisposition(verdict, deliveryFacts(deps, message));
  const context = logContext(message, job);
  switch (disposition.action) {
    case "remove":
      // The batch's INFO line counts these; one line per job only at DEBUG (logs cost per line).
      deps.log.debug(`job ${disposition.outcome}`, context, { calls });
      return result(deps, {
        ...base,
        outcome: disposition.outcome,
        run: runEntry(message, job, { outcome: disposition.outcome, attempts: calls }),
      });
    case "redeliver":
      deps.log.warn("job failed transiently; SQS will deliver it again", context, {
        detail: clip(disposition.detail),
      });
      return result(deps, { ...base, outcome: "redelivered" });
    case "hand-back":
      await handBack(deps, message, job, disposition.visibilitySeconds, answerBy);
      return result(deps, { ...base, outcome: "handed-back" });
    case "defer":
    case "dead-letter":
      break;
  }
  const deadLetterEntry =
    disposition.action === "dead-letter"
      ? runEntry(message, job, {
          outcome: "dead-lettered",
          reason: disposition.reason,
          ...(disposition.status !== undefined && { status: disposition.status }),
          detail: clip(disposition.detail),
          attempts: disposition.attempts,
        })
      : undefined;
  // Its run learns of a dead letter before it leaves the source queue: a container that dies
  // after parking it can then lose no trace of it (one that dies before leaves it to SQS).
  const runMissing =
    deadLetterEntry && deps.runs
      ? await deps.runs.recordNow(message.messageId, deadLetterEntry, answerBy)
      : undefined;
  const runRecorded = runMissing !== undefined && !runMissing.line && !runMissing.count;
  try {
    await park(deps, message, disposition, answerBy, job);
  } catch (error) {
    // The job could not be parked anywhere: leave it on the queue rather than lose it.
    deps.log.error("could not send the job to a queue; SQS will deliver it again", context, {
      action: disposition.action,
      error: describeError(error),
    });
    return result(deps, { ...base, outcome: "redelivered" });
  }
  await removeAtOnce(deps, message, job, answerBy);
  if (disposition.action === "defer") {
    deps.log.warn(deferralMessage(verdict), context, {
      delaySeconds: disposition.delaySeconds,
      deferrals: disposition.deferrals,
    });
    return result(deps, { ...base, outcome: "deferred" });
  }
  deps.log.warn("job dead-lettered", context, {
    reason: disposition.reason,
    status: disposition.status,
    detail: clip(disposition.detail),
  });
  return result(deps, {
    ...base,
    outcome: "dead-lettered",
    reason: disposition.reason,
    ...(deadLetterEntry && { run: deadLetterEntry, runRecorded }),
    ...(runMissing && !runRecorded && { runMissing }),
  });
}

/** The message's id, and its job's first message's when it is a deferral. */
function idsOf(message: QueueMessage): Pick<JobResult, "messageId" | "originId"> {
  return { messageId: message.messageId, ...(message.originId && { originId: message.originId }) };
}

function result(deps: WorkerDeps, jobResult: JobResult): JobResult {
  deps.onSettled?.(jobResult);
  return jobResult;
}
