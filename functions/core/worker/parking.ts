import { beforeDeadline } from "../deadline.ts";
import { clip } from "../detail.ts";
import { type DeletionJob, messageGroupOf } from "../producers/deletion-job.ts";
import {
  deferToSourceQueue,
  removeFromSourceQueue,
  sendToDeadLetterQueue,
  showAgainAfter,
} from "./dead-letter.ts";
import type { Disposition } from "./outcome.ts";
import type { QueueMessage } from "./queue-message.ts";
import type { WorkerDeps } from "./worker-types.ts";

/*
 * Where a settled job's message goes when it does not simply leave the queue: the DLQ, back
 * to the queue (deferred), visible again early (handed back), or removed at once. Every call
 * ends by `answerBy`, so the invocation still answers Lambda in time.
 */

/** Sends the job to the DLQ or back to its queue, by `answerBy` at the latest. */
export async function park(
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
export async function handBack(
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
export async function removeAtOnce(
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

/** Names an error without its text when that could echo a request (and so a token). */
export function describeError(error: unknown): string {
  return error instanceof Error ? clip(`${error.name}: ${error.message}`) : "unknown error";
}

export function logContext(message: QueueMessage, job?: DeletionJob): Record<string, unknown> {
  return {
    messageId: message.messageId,
    receiveCount: message.receiveCount,
    ...(job && { locationId: job.locationId, csvId: job.csvId }),
    ...(job?.correlationId && { correlationId: job.correlationId }),
  };
}
