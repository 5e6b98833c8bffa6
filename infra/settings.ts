/**
 * Settings shared by the CDK stack and the local runner, so that the pipeline behaves the same
 * on a laptop as in AWS. The stack's props default to these; `npm start` imports them.
 */
export const PIPELINE_DEFAULTS = {
  /** SQS redrive: deliveries before SQS moves a message to the DLQ (also the worker's MAX_RECEIVE_COUNT). */
  maxReceiveCount: 5,
  /** Worker Lambda timeout. */
  functionTimeoutSeconds: 60,
  functionMemoryMiB: 256,
  /**
   * Messages per Lambda invocation. An invocation ends when its last job does: with 10, a
   * container spent a fifth of each batch waiting on the location with the most jobs in it
   * (0.84 of the ceiling alone); 20 reaches 0.96 (bench/FLEET-RESULTS.md). Above 10 SQS needs a
   * batching window.
   */
  batchSize: 20,
  maxBatchingWindowSeconds: 1,
  /** Concurrent invocations the event source may run: the knob that protects HighLevel's budget. */
  maxConcurrency: 2,
  /** Jobs in flight inside one invocation (WORKER_CONCURRENCY). */
  workerConcurrency: 5,
  highLevelMaxAttempts: 3,
  highLevelTimeoutMs: 10_000,
  maxDeferrals: 100,
  sourceRetentionDays: 4,
  deadLetterRetentionDays: 14,
} as const;

/**
 * Local runs: the poller is the only consumer and never retries an invocation itself, so a
 * visibility of two timeouts (+ the batching window) covers an overrun, and a job that failed
 * transiently comes back in seconds rather than the six timeouts AWS asks of a Lambda event source.
 */
export function localVisibilityTimeoutSeconds(
  functionTimeoutSeconds: number,
  maxBatchingWindowSeconds: number,
): number {
  return 2 * functionTimeoutSeconds + maxBatchingWindowSeconds;
}

/** Local `--live` runs: a shorter invocation than the stack's, so redeliveries wait seconds. */
export const LOCAL_LIVE_FUNCTION_TIMEOUT_SECONDS = 15;

/** AWS's rule for SQS event sources: visibility timeout ≥ 6 × function timeout (+ batching window). */
export function minimumVisibilityTimeoutSeconds(
  functionTimeoutSeconds: number,
  maxBatchingWindowSeconds: number,
): number {
  return 6 * functionTimeoutSeconds + maxBatchingWindowSeconds;
}
