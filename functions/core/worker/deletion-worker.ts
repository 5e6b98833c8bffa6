import type { SQSClient } from "@aws-sdk/client-sqs";
import pLimit from "p-limit";
import type { WorkerConfig } from "../config.ts";
import { type HighLevelClient, readCsvStatus } from "../highlevel/highlevel-client.ts";
import { MissingTokenError, type TokenSource } from "../highlevel/token-source.ts";
import { type DeletionJob, jobKey, parseDeletionJob } from "../producers/deletion-job.ts";
import { deferToSourceQueue, sendToDeadLetterQueue } from "./dead-letter.ts";
import { classifyStatus, decideDisposition, type FailureReason, type Verdict } from "./outcome.ts";
import type { QueueMessage } from "./queue-message.ts";

/** The parts of a structured logger the worker uses; Powertools' Logger fits. */
export interface WorkerLog {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

export type JobOutcome =
  | "deleted"
  | "already-absent"
  | "dead-lettered"
  | "deferred"
  | "redelivered";

export interface JobResult {
  messageId: string;
  outcome: JobOutcome;
  reason?: FailureReason;
  /** True when another message of the same batch carried the same job. */
  duplicate?: boolean;
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

/**
 * Settles the messages of one batch: at most `workerConcurrency` jobs at once, each job key
 * deleted once however many messages carry it, and no job started when too little time is
 * left (those are redelivered by SQS, or sent back to the queue when this was their last receive).
 *
 * @example
 * const settle = createBatchSettler(deps, () => context.getRemainingTimeInMillis());
 * const results = await Promise.all(messages.map(settle));
 */
export function createBatchSettler(deps: WorkerDeps, remainingTimeMs: () => number) {
  const remaining = remainingTimeMs();
  const deadline =
    Date.now() + remaining - Math.max(100, Math.min(SETTLE_RESERVE_MS, remaining / 5));
  const minimumStart = Math.max(100, Math.min(MIN_START_MS, remaining / 4));
  const limit = pLimit(deps.config.workerConcurrency);
  const verdicts = new Map<string, Promise<Verdict>>();

  return (message: QueueMessage): Promise<JobResult> =>
    limit(async () => {
      const parsed = parseDeletionJob(message.body);
      if (!parsed.ok) {
        return settle(deps, message, { kind: "invalid-job", detail: parsed.error }, false);
      }
      const job = parsed.job;
      const key = jobKey(job);
      const first = verdicts.get(key);
      if (first) {
        const verdict = await first;
        // The upload is gone now: the duplicate has nothing left to delete.
        const own: Verdict =
          verdict.kind === "deleted" ? { kind: "already-absent", attempts: 0 } : verdict;
        return settle(deps, message, own, true, job);
      }
      if (deadline - Date.now() < minimumStart) {
        deps.log.warn(
          "not started: too little time left in the invocation",
          logContext(message, job),
        );
        if (message.receiveCount >= deps.config.maxReceiveCount) {
          // Redelivering it would let SQS move a job nobody tried to the DLQ: send it back instead.
          return settle(
            deps,
            message,
            { kind: "throttled", retryAfterMs: 0, detail: "not started", attempts: 0 },
            false,
            job,
          );
        }
        return result(deps, { messageId: message.messageId, outcome: "redelivered", calls: 0 });
      }
      const pending = resolveVerdict(job, deps, deadline);
      verdicts.set(key, pending);
      return settle(deps, message, await pending, false, job);
    });
}

/** Talks to HighLevel until the job's verdict is known, following DESIGN.md's table. */
export async function resolveVerdict(
  job: DeletionJob,
  deps: Pick<WorkerDeps, "client" | "tokens">,
  deadline: number,
): Promise<Verdict> {
  let token: string;
  try {
    token = await deps.tokens.tokenFor(job.locationId);
  } catch (error) {
    return tokenFailure(error, 0);
  }
  const redact = (text: string) => text.split(token).join("[redacted]");
  let attempts = 0;
  let tokenReread = false;
  let throttledStatus: number | undefined;

  for (;;) {
    const answer = await deps.client.deleteCsv(job.locationId, job.csvId, { token, deadline });
    attempts += answer.attempts;
    if (answer.kind === "paced-out") {
      return {
        kind: "throttled",
        ...(throttledStatus !== undefined && { status: throttledStatus }),
        retryAfterMs: answer.retryAfterMs,
        detail:
          answer.reason === "daily"
            ? "HighLevel's daily rate budget for this location is used up"
            : "HighLevel's burst rate budget for this location stayed exhausted for the rest of the invocation",
        attempts,
      };
    }
    if (answer.kind === "unreachable") {
      return { kind: "transient", detail: redact(answer.detail), attempts };
    }
    const detail = redact(answer.message ?? `HTTP ${answer.status}`);
    switch (classifyStatus(answer.status)) {
      case "deleted":
        return { kind: "deleted", attempts };
      case "already-absent":
        return { kind: "already-absent", attempts };
      case "transient":
        return { kind: "transient", status: answer.status, detail, attempts };
      case "throttled":
        throttledStatus = answer.status;
        // The pacer now holds this location back for the interval; the next call waits or gives up.
        continue;
      case "unauthorized":
        if (tokenReread) {
          return { kind: "unauthorized", status: answer.status, detail, attempts };
        }
        tokenReread = true;
        try {
          await deps.tokens.refresh();
          token = await deps.tokens.tokenFor(job.locationId);
        } catch (error) {
          return tokenFailure(error, attempts);
        }
        continue;
      case "rejected": {
        // HighLevel may answer 400/422 for an upload that is already soft-deleted: look before dead-lettering.
        const check = await deps.client.getCsv(job.locationId, job.csvId, { token, deadline });
        attempts += check.attempts;
        if (check.kind === "paced-out") {
          return {
            kind: "throttled",
            retryAfterMs: check.retryAfterMs,
            detail: `HighLevel answered ${answer.status} and the check of the upload had to wait for the rate budget`,
            attempts,
          };
        }
        if (
          check.kind === "unreachable" ||
          classifyStatus(check.status) === "transient" ||
          check.status === 429
        ) {
          // Without the check a soft-deleted upload would look rejected: try again later instead.
          const why = check.kind === "unreachable" ? check.detail : `HTTP ${check.status}`;
          return {
            kind: "transient",
            detail: redact(`${detail}; checking the upload failed: ${why}`),
            attempts,
          };
        }
        if (
          check.status === 404 ||
          (check.status < 300 && readCsvStatus(check.body) === "deleted")
        ) {
          return { kind: "already-absent", attempts };
        }
        return { kind: "rejected", status: answer.status, detail, attempts };
      }
    }
  }
}

async function settle(
  deps: WorkerDeps,
  message: QueueMessage,
  verdict: Verdict,
  duplicate: boolean,
  job?: DeletionJob,
): Promise<JobResult> {
  const calls = duplicate || verdict.kind === "invalid-job" ? 0 : verdict.attempts;
  const base = { messageId: message.messageId, calls, ...(duplicate && { duplicate }) };
  const disposition = decideDisposition(verdict, {
    receiveCount: message.receiveCount,
    maxReceiveCount: deps.config.maxReceiveCount,
    deferrals: message.deferrals,
    maxDeferrals: deps.config.maxDeferrals,
  });
  const context = logContext(message, job);
  try {
    switch (disposition.action) {
      case "remove":
        deps.log.info(`job ${disposition.outcome}`, context, { calls });
        return result(deps, { ...base, outcome: disposition.outcome });
      case "redeliver":
        deps.log.warn("job failed transiently; SQS will deliver it again", context, {
          detail: disposition.detail,
        });
        return result(deps, { ...base, outcome: "redelivered" });
      case "defer":
        await deferToSourceQueue(await deps.sqs(), deps.config.queueUrl, message, disposition);
        deps.log.info("job deferred: rate budget exhausted", context, {
          delaySeconds: disposition.delaySeconds,
          deferrals: disposition.deferrals,
        });
        return result(deps, { ...base, outcome: "deferred" });
      case "dead-letter": {
        const { action: _, ...failure } = disposition;
        await sendToDeadLetterQueue(
          await deps.sqs(),
          deps.config.deadLetterQueueUrl,
          message,
          failure,
        );
        deps.log.warn("job dead-lettered", context, {
          reason: failure.reason,
          status: failure.status,
          detail: failure.detail,
        });
        return result(deps, { ...base, outcome: "dead-lettered", reason: failure.reason });
      }
    }
  } catch (error) {
    // The job could not be parked anywhere: leave it on the queue rather than lose it.
    deps.log.error("could not send the job to a queue; SQS will deliver it again", context, {
      action: disposition.action,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    return result(deps, { ...base, outcome: "redelivered" });
  }
}

function result(deps: WorkerDeps, jobResult: JobResult): JobResult {
  deps.onSettled?.(jobResult);
  return jobResult;
}

function tokenFailure(error: unknown, attempts: number): Verdict {
  if (error instanceof MissingTokenError) {
    return { kind: "unauthorized", detail: error.message, attempts };
  }
  const detail =
    error instanceof Error ? `token lookup failed: ${error.name}` : "token lookup failed";
  return { kind: "transient", detail, attempts };
}

function logContext(message: QueueMessage, job?: DeletionJob): Record<string, unknown> {
  return {
    messageId: message.messageId,
    receiveCount: message.receiveCount,
    ...(job && { locationId: job.locationId, csvId: job.csvId }),
    ...(job?.correlationId && { correlationId: job.correlationId }),
  };
}
