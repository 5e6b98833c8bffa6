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
   * Messages per Lambda invocation. Jobs wait for their slots on timers and many calls are in
   * flight at once, so an invocation lasts about one answer time plus its slots: larger batches
   * spread over more locations, book more slots per table write and cost fewer invocations. At
   * HighLevel's answer times (200–300 ms) 200 reaches 0.95 of 20 locations' budget with two
   * containers at 0.17 table writes per deletion; 100 gave 0.92–0.93 at 0.22
   * (bench/FLEET-RESULTS.md). Above 10 SQS needs a batching window.
   */
  batchSize: 200,
  maxBatchingWindowSeconds: 1,
  /** Concurrent invocations the event source may run: the knob that protects HighLevel's budget. */
  maxConcurrency: 2,
  /**
   * HighLevel calls in flight at once in one container (WORKER_CONCURRENCY); jobs waiting for a
   * slot hold none. At 250 ms answers, 100 carry up to 400 calls a second per container.
   */
  workerConcurrency: 100,
  highLevelMaxAttempts: 3,
  highLevelTimeoutMs: 10_000,
  maxDeferrals: 100,
  sourceRetentionDays: 4,
  /** Run results (report bucket `runs/`) and run records are kept this long. */
  reportRetentionDays: 90,
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
