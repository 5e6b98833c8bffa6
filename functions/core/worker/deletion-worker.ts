import type { SQSClient } from "@aws-sdk/client-sqs";
import pLimit from "p-limit";
import type { WorkerConfig } from "../config.ts";
import { beforeDeadline, DeadlineExceeded } from "../deadline.ts";
import { clip, redact } from "../detail.ts";
import { bodyConfirmsSuccess, readCsvStatus } from "../highlevel/csv-answer.ts";
import type { AnsweredCall, HighLevelClient } from "../highlevel/highlevel-client.ts";
import { DOCUMENTED_BURST } from "../highlevel/rate-pacer.ts";
import {
  MissingTokenError,
  TokenExpiredError,
  type TokenSource,
} from "../highlevel/token-source.ts";
import {
  type DeletionJob,
  type JobParseResult,
  jobKey,
  messageGroupOf,
  parseDeletionJob,
} from "../producers/deletion-job.ts";
import {
  deferToSourceQueue,
  removeFromSourceQueue,
  sendToDeadLetterQueue,
  showAgainAfter,
} from "./dead-letter.ts";
import {
  classifyStatus,
  type Disposition,
  decideDisposition,
  type FailureReason,
  type Verdict,
} from "./outcome.ts";
import type { QueueMessage } from "./queue-message.ts";

/** The parts of a structured logger the worker uses; Powertools' Logger fits. */
export interface WorkerLog {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

export type JobOutcome =
  | "deleted"
  | "already-absent"
  | "dead-lettered"
  | "deferred"
  | "redelivered"
  /** Another copy of the same job in the batch was dead-lettered, deferred or left for redelivery. */
  | "duplicate-removed"
  /** Its location's budget was booked longer than a lane waits: back on the queue for later. */
  | "handed-back";

export interface JobResult {
  messageId: string;
  outcome: JobOutcome;
  reason?: FailureReason;
  /** True when another message of the same batch carried the same job. */
  duplicate?: boolean;
  /** Deferred because the OAuth token had expired (or stayed refused): metric `TokenExpired`. */
  tokenExpired?: boolean;
  /** Calls made to HighLevel for this message. */
  calls: number;
}

export interface WorkerDeps {
  config: Pick<
    WorkerConfig,
    "queueUrl" | "deadLetterQueueUrl" | "maxReceiveCount" | "maxDeferrals" | "workerConcurrency"
  >;
  client: HighLevelClient;
  tokens: TokenSource;
  /** The SQS client, created on first use (see dead-letter.ts). */
  sqs: () => Promise<SQSClient>;
  log: WorkerLog;
  /** Called once per settled message (metrics). */
  onSettled?: (result: JobResult) => void;
}

/**
 * Time kept back at the end of an invocation to dead-letter, defer and answer Lambda: 1.5 s,
 * or a fifth of the invocation when that is shorter (local runs use short timeouts).
 */
export const SETTLE_RESERVE_MS = 1_500;
/** A job is not started with less than 1 s (or a quarter of the invocation) before the deadline. */
export const MIN_START_MS = 1_000;
/** Throttled answers one job may draw in one invocation before it is deferred instead. */
export const MAX_THROTTLED_ANSWERS = 5;

/**
 * Settles the messages of one batch: at most `workerConcurrency` jobs at once, each job key
 * worked once however many messages carry it (the other copies share its fate), and no job
 * started when too little time is left (those are redelivered by SQS, or sent back to the
 * queue when this was their last receive). Every await ends before the invocation's deadline,
 * so Lambda always gets an answer. Given the batch, it first tells the rate budget how many
 * calls each location will need, so that a shared budget books them in one write each.
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
  // Each body is parsed once: to tell the budget what the batch holds, then to settle it.
  const parsedBodies = new Map(batch.map(({ body }) => [body, parseDeletionJob(body)]));
  announceCalls(deps.client, parsedBodies.values());
  const remaining = remainingTimeMs();
  const invocationEnd = Date.now() + remaining;
  // HighLevel work stops here; parking (dead letters, deferrals) may go on until `answerBy`.
  const workDeadline = invocationEnd - Math.max(100, Math.min(SETTLE_RESERVE_MS, remaining / 5));
  const answerBy = invocationEnd - Math.max(20, Math.min(250, remaining / 10));
  const minimumStart = Math.max(100, Math.min(MIN_START_MS, remaining / 4));
  const limit = pLimit(deps.config.workerConcurrency);
  const firstCopies = new Map<string, Promise<JobResult>>();

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
      if (workDeadline - Date.now() < minimumStart) {
        return settleUnstarted(deps, message, job, answerBy);
      }
      return settle(deps, message, await resolveVerdict(job, deps, workDeadline), answerBy, job);
    })();
    firstCopies.set(jobKey(job), own);
    return own;
  };
  return (message: QueueMessage): Promise<JobResult> => limit(() => settleJob(message));
}

/** One call per distinct job, per location: what the batch will ask of each location's budget. */
function announceCalls(client: HighLevelClient, parsedBodies: Iterable<JobParseResult>) {
  const jobs = new Map<string, string>();
  for (const parsed of parsedBodies) {
    if (parsed.ok) jobs.set(jobKey(parsed.job), parsed.job.locationId);
  }
  const calls = new Map<string, number>();
  for (const locationId of jobs.values()) calls.set(locationId, (calls.get(locationId) ?? 0) + 1);
  for (const [locationId, count] of calls) client.expectCalls(locationId, count);
}

/** Talks to HighLevel until the job's verdict is known, following DESIGN.md's table. */
export async function resolveVerdict(
  job: DeletionJob,
  deps: Pick<WorkerDeps, "client" | "tokens">,
  deadline: number,
): Promise<Verdict> {
  let token: string;
  try {
    token = await readToken(deps.tokens, job.locationId, deadline);
  } catch (error) {
    return tokenFailure(error, 0);
  }
  // HighLevel's messages arrive redacted and cut; what the worker adds to them is cut again.
  const safe = (text: string) => clip(redact(text, token));
  let attempts = 0;
  let tokenReread = false;
  let throttledAnswers = 0;

  for (;;) {
    const answer = await deps.client.deleteCsv(job.locationId, job.csvId, { token, deadline });
    attempts += answer.attempts;
    if (answer.kind === "paced-out") {
      return pacedOut(answer, throttledAnswers > 0 ? 429 : undefined, attempts);
    }
    if (answer.kind === "unreachable") {
      if (throttledAnswers > 0) {
        // Time ran out while HighLevel was throttling this job: wait it out on the queue.
        return {
          kind: "throttled",
          status: 429,
          retryAfterMs: DOCUMENTED_BURST.intervalMs,
          detail: `HighLevel answered 429 ${throttledAnswers} times and the invocation ran out of time`,
          attempts,
        };
      }
      return { kind: "transient", detail: safe(answer.detail), attempts };
    }
    const detail = safe(answer.message ?? `HTTP ${answer.status}`);
    switch (classifyStatus(answer.status)) {
      case "deleted":
        if (answer.bodyState === "complete" && bodyConfirmsSuccess(answer.body)) {
          return { kind: "deleted", attempts };
        }
        // A 2xx whose body disagrees (a proxy's page, `success: false`) proves nothing: look.
        return checkUpload(
          job,
          deps,
          { token, deadline },
          answer,
          attempts,
          safe(
            `HighLevel answered ${answer.status} but its answer did not confirm the deletion: ${answer.message ?? "(no message)"}`,
          ),
        );
      case "redirected":
        return {
          kind: "rejected",
          status: answer.status,
          detail: `HighLevel answered ${answer.status}, a redirect to ${answer.redirectHost ?? "an unknown host"}; redirects are never followed`,
          attempts,
        };
      case "already-absent":
        return { kind: "already-absent", attempts };
      case "transient":
        return { kind: "transient", status: answer.status, detail, attempts };
      case "throttled":
        throttledAnswers += 1;
        if (throttledAnswers >= MAX_THROTTLED_ANSWERS) {
          return {
            kind: "throttled",
            status: answer.status,
            retryAfterMs: answer.rate.intervalMs ?? DOCUMENTED_BURST.intervalMs,
            detail: `HighLevel answered 429 ${throttledAnswers} times in this invocation`,
            attempts,
          };
        }
        // The pacer now holds this location back (at least 1 s); the next call waits or gives up.
        continue;
      case "unauthorized":
        if (/location is not active/i.test(answer.message ?? "")) {
          // A paused SaaS location: only its own jobs fail, and no refresh will mend it.
          return {
            kind: "unauthorized",
            status: answer.status,
            detail: `HighLevel says location ${job.locationId} is not active (a paused sub-account): ${detail}`,
            attempts,
          };
        }
        if (tokenReread) {
          if (deps.tokens.usesOAuth()) {
            // An OAuth token refused after a re-read waits for the refresher, it is not the job's fault.
            return tokenExpiredVerdict(
              `HighLevel still refused the OAuth token after a re-read: ${detail}`,
              attempts,
            );
          }
          return { kind: "unauthorized", status: answer.status, detail, attempts };
        }
        tokenReread = true;
        try {
          await deps.tokens.refresh();
          token = await readToken(deps.tokens, job.locationId, deadline);
        } catch (error) {
          return tokenFailure(error, attempts);
        }
        continue;
      case "rejected":
        // HighLevel may answer 400/422 for an upload that is already soft-deleted: look before dead-lettering.
        return checkUpload(job, deps, { token, deadline }, answer, attempts, detail);
    }
  }
}

/**
 * The GET check of DESIGN.md's table, after a refusal or a 2xx that did not confirm: the upload
 * gone or `status: deleted` → already-absent; otherwise rejected with `detail`. A check that
 * cannot be made is no evidence either way: throttled → deferred, else transient.
 */
async function checkUpload(
  job: DeletionJob,
  deps: Pick<WorkerDeps, "client">,
  context: { token: string; deadline: number },
  answer: AnsweredCall,
  attemptsSoFar: number,
  detail: string,
): Promise<Verdict> {
  // The check needs the status only: the default page of one post keeps the answer small.
  const check = await deps.client.getCsv(job.locationId, job.csvId, context);
  const attempts = attemptsSoFar + check.attempts;
  if (check.kind === "paced-out") {
    return pacedOut(
      check,
      undefined,
      attempts,
      `${detail}; the check of the upload had to wait for the rate budget`,
    );
  }
  if (check.kind === "answered" && check.status === 429) {
    return {
      kind: "throttled",
      status: 429,
      retryAfterMs: check.rate.intervalMs ?? DOCUMENTED_BURST.intervalMs,
      detail: `${detail}; the check of the upload was throttled`,
      attempts,
    };
  }
  if (check.kind === "unreachable" || classifyStatus(check.status) === "transient") {
    // Without the check a soft-deleted upload would look rejected: try again later instead.
    const why = check.kind === "unreachable" ? check.detail : `HTTP ${check.status}`;
    return {
      kind: "transient",
      detail: clip(redact(`${detail}; checking the upload failed: ${why}`, context.token)),
      attempts,
    };
  }
  const gone =
    check.status === 404 ||
    (check.status >= 200 &&
      check.status < 300 &&
      check.bodyState === "complete" &&
      readCsvStatus(check.body) === "deleted");
  if (gone) return { kind: "already-absent", attempts };
  return { kind: "rejected", status: answer.status, detail, attempts };
}

function pacedOut(
  answer: Extract<Awaited<ReturnType<HighLevelClient["getCsv"]>>, { kind: "paced-out" }>,
  status: number | undefined,
  attempts: number,
  detail?: string,
): Verdict {
  return {
    kind: "throttled",
    ...(answer.reason === "burst" && status === undefined && { budgetWait: true }),
    ...(status !== undefined && { status }),
    retryAfterMs: answer.retryAfterMs,
    detail:
      detail ??
      (answer.reason === "daily"
        ? "HighLevel's daily rate budget for this location is used up"
        : "HighLevel's burst rate budget for this location stayed exhausted for the rest of the invocation"),
    attempts,
  };
}

function readToken(tokens: TokenSource, locationId: string, deadline: number): Promise<string> {
  return beforeDeadline(deadline, "reading the HighLevel token", () => tokens.tokenFor(locationId));
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
  return result(deps, { messageId: message.messageId, outcome: "redelivered", calls: 0 });
}

/** Another copy of a job this batch already worked on shares that copy's fate. */
async function settleDuplicate(
  deps: WorkerDeps,
  message: QueueMessage,
  job: DeletionJob,
  first: JobResult,
  answerBy: number,
): Promise<JobResult> {
  const base = { messageId: message.messageId, calls: 0, duplicate: true };
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
    messageId: message.messageId,
    calls,
    ...(verdict.kind === "throttled" && verdict.tokenExpired && { tokenExpired: true }),
  };
  const disposition = decideDisposition(verdict, {
    receiveCount: message.receiveCount,
    maxReceiveCount: deps.config.maxReceiveCount,
    deferrals: message.deferrals,
    maxDeferrals: deps.config.maxDeferrals,
  });
  const context = logContext(message, job);
  switch (disposition.action) {
    case "remove":
      // The batch's INFO line counts these; one line per job only at DEBUG (logs cost per line).
      deps.log.debug(`job ${disposition.outcome}`, context, { calls });
      return result(deps, { ...base, outcome: disposition.outcome });
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
    deps.log.warn(
      verdict.kind === "throttled" && verdict.tokenExpired
        ? "job deferred: waiting for the token refresher"
        : "job deferred: rate budget exhausted",
      context,
      { delaySeconds: disposition.delaySeconds, deferrals: disposition.deferrals },
    );
    return result(deps, { ...base, outcome: "deferred" });
  }
  deps.log.warn("job dead-lettered", context, {
    reason: disposition.reason,
    status: disposition.status,
    detail: clip(disposition.detail),
  });
  return result(deps, { ...base, outcome: "dead-lettered", reason: disposition.reason });
}

/** Sends the job to the DLQ or back to its queue, by `answerBy` at the latest. */
async function park(
  deps: WorkerDeps,
  message: QueueMessage,
  disposition: Extract<Disposition, { action: "defer" | "dead-letter" }>,
  answerBy: number,
  job: DeletionJob | undefined,
): Promise<void> {
  const sqs = await deps.sqs();
  if (disposition.action === "defer") {
    await beforeDeadline(answerBy, "deferring the job", (abortSignal) =>
      deferToSourceQueue(sqs, deps.config.queueUrl, message, disposition, {
        abortSignal,
        ...(job && { messageGroupId: messageGroupOf(job) }),
      }),
    );
    return;
  }
  const { action: _, ...failure } = disposition;
  await beforeDeadline(answerBy, "dead-lettering the job", (abortSignal) =>
    sendToDeadLetterQueue(sqs, deps.config.deadLetterQueueUrl, message, failure, { abortSignal }),
  );
}

/**
 * Makes the message visible again in `visibilitySeconds` (and reports it as a batch item
 * failure): a job waiting for its location's budget costs no deferral and no lane time. If the
 * change fails, the queue's own visibility timeout brings it back later.
 */
async function handBack(
  deps: WorkerDeps,
  message: QueueMessage,
  job: DeletionJob | undefined,
  visibilitySeconds: number,
  answerBy: number,
): Promise<void> {
  try {
    const sqs = await deps.sqs();
    await beforeDeadline(answerBy, "handing the job back", (abortSignal) =>
      showAgainAfter(sqs, deps.config.queueUrl, message, visibilitySeconds, { abortSignal }),
    );
  } catch (error) {
    deps.log.warn(
      "could not hand the job back early; it returns after the visibility timeout",
      logContext(message, job),
      {
        error: describeError(error),
      },
    );
  }
}

/**
 * Deletes the message from the source queue now rather than through the batch response. If
 * that fails the batch response still removes it; only a timeout after this point could bring
 * the copy back, and then it is parked at most once more.
 */
async function removeAtOnce(
  deps: WorkerDeps,
  message: QueueMessage,
  job: DeletionJob | undefined,
  answerBy: number,
): Promise<void> {
  try {
    const sqs = await deps.sqs();
    await beforeDeadline(answerBy, "removing the parked job", (abortSignal) =>
      removeFromSourceQueue(sqs, deps.config.queueUrl, message, { abortSignal }),
    );
  } catch (error) {
    deps.log.warn(
      "could not remove the parked job from the queue at once",
      logContext(message, job),
      {
        error: describeError(error),
      },
    );
  }
}

function result(deps: WorkerDeps, jobResult: JobResult): JobResult {
  deps.onSettled?.(jobResult);
  return jobResult;
}

/** Deferred until the refresher has renewed the token (it runs hourly; `auth refresh` now). */
const TOKEN_WAIT_MS = 5 * 60_000;

function tokenExpiredVerdict(detail: string, attempts: number): Verdict {
  return { kind: "throttled", retryAfterMs: TOKEN_WAIT_MS, detail, attempts, tokenExpired: true };
}

function tokenFailure(error: unknown, attempts: number): Verdict {
  if (error instanceof TokenExpiredError) return tokenExpiredVerdict(error.message, attempts);
  if (error instanceof MissingTokenError) {
    return { kind: "unauthorized", detail: error.message, attempts };
  }
  if (error instanceof DeadlineExceeded) {
    return { kind: "transient", detail: "the token could not be read in time", attempts };
  }
  const detail =
    error instanceof Error ? `token lookup failed: ${error.name}` : "token lookup failed";
  return { kind: "transient", detail, attempts };
}

/** Names an error without its text when that could echo a request (and so a token). */
function describeError(error: unknown): string {
  return error instanceof Error ? clip(`${error.name}: ${error.message}`) : "unknown error";
}

function logContext(message: QueueMessage, job?: DeletionJob): Record<string, unknown> {
  return {
    messageId: message.messageId,
    receiveCount: message.receiveCount,
    ...(job && { locationId: job.locationId, csvId: job.csvId }),
    ...(job?.correlationId && { correlationId: job.correlationId }),
  };
}
