import { PIPELINE_DEFAULTS } from "../infra/settings.ts";

/**
 * Prices (USD, us-east-1 public list prices as published by AWS; check the current pages
 * before relying on them): Lambda on arm64 $0.0000133334 per GB-second and $0.20 per million
 * requests; SQS standard queues $0.40 per million requests (64 KiB chunks); CloudWatch Logs
 * ingestion $0.50 per GB. Free tiers are left out.
 */
export const PRICE = {
  lambdaGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1_000_000,
  sqsRequest: 0.4 / 1_000_000,
  logsGb: 0.5,
  /** DynamoDB on-demand: $0.625 per million write request units. */
  dynamoWrite: 0.625 / 1_000_000,
  /** S3 Standard: $0.005 per 1,000 PUTs, $0.023 per GB-month. */
  s3Put: 0.005 / 1_000,
  s3GbMonth: 0.023,
};

/** One result line as written (JSON Lines), measured on the sandbox runs: ~230 bytes. */
const RESULT_LINE_BYTES = 230;
/** Results are kept `reportRetention` (90 days): three months of storage. */
const RESULT_MONTHS = 3;

const DELETIONS = 1_000_000;
/** Jobs per invocation: the stack's batch size. */
const BATCH = PIPELINE_DEFAULTS.batchSize;
/** SQS sends, receives and deletes at most 10 messages per request. */
const SQS_BATCH = 10;
export const MEMORY_GB = PIPELINE_DEFAULTS.functionMemoryMiB / 1024;
/**
 * Log bytes per job at INFO, measured by test/functions/log-volume.test.ts: one line per batch
 * (~380 B), one EMF line per batch (~260 B), one WARN line per failing job; 77 B per deletion
 * with 2% failing. (Before issue #15: a line per job and per metric value, ~510 B measured at
 * DEBUG, which logs as INFO did then.)
 */
const LOG_BYTES_PER_JOB = 77;

export function estimateCost(measured: {
  msPerBatchAtLimit: number;
  msPerBatchUnthrottled: number;
  /** What run records and results add to a batch's time (measured, worst case). */
  msPerBatchForRuns: number;
}) {
  const invocations = DELETIONS / BATCH;
  // Per job: 1/10 SendMessageBatch to enqueue, 1/10 ReceiveMessage and 1/10 DeleteMessageBatch by the event source.
  const sqsRequests = (DELETIONS / SQS_BATCH) * 3;
  const lambdaAt = (ms: number) => invocations * (ms / 1000) * MEMORY_GB * PRICE.lambdaGbSecond;
  const requests = invocations * PRICE.lambdaRequest;
  const sqs = sqsRequests * PRICE.sqsRequest;
  const logs = ((DELETIONS * LOG_BYTES_PER_JOB) / 1e9) * PRICE.logsGb;
  // Runs: one results object and one run-record update per invocation (per run in it).
  const runPuts = invocations * PRICE.s3Put;
  const runWrites = invocations * PRICE.dynamoWrite;
  const runStorage = ((DELETIONS * RESULT_LINE_BYTES) / 1e9) * PRICE.s3GbMonth * RESULT_MONTHS;
  const runLambda = lambdaAt(measured.msPerBatchForRuns);
  const runs = runPuts + runWrites + runStorage + runLambda;
  // Measured batch times include the runs' time already; its other items are added.
  const unthrottled =
    lambdaAt(measured.msPerBatchUnthrottled) + requests + sqs + runPuts + runWrites + runStorage;
  const atLimit =
    lambdaAt(measured.msPerBatchAtLimit) + requests + sqs + runPuts + runWrites + runStorage;
  const money = (value: number) => `$${value.toFixed(2)}`;
  return {
    summary: `${money(unthrottled)} unthrottled, ${money(atLimit)} at the rate limit (+ ${money(logs)} logs at INFO); run records and results ${money(runs)} of it`,
    runs,
    details: [
      `Per million deletions, with 256 MB arm64 workers and batches of ${BATCH} (${invocations.toLocaleString("en")} invocations):`,
      "",
      "| item | unthrottled | at the rate limit |",
      "|---|---|---|",
      `| Lambda duration (${measured.msPerBatchUnthrottled.toFixed(0)} / ${measured.msPerBatchAtLimit.toFixed(0)} ms per batch, measured) | ${money(lambdaAt(measured.msPerBatchUnthrottled))} | ${money(lambdaAt(measured.msPerBatchAtLimit))} |`,
      `| Lambda requests (${invocations.toLocaleString("en")}) | ${money(requests)} | ${money(requests)} |`,
      `| SQS requests (${sqsRequests.toLocaleString("en")}: enqueue, receive, delete) | ${money(sqs)} | ${money(sqs)} |`,
      `| CloudWatch Logs at INFO (~${LOG_BYTES_PER_JOB} B per job) | ${money(logs)} | ${money(logs)} |`,
      `| Run results: S3 PUTs (${invocations.toLocaleString("en")}, one per batch) | ${money(runPuts)} | ${money(runPuts)} |`,
      `| Run records: DynamoDB writes (${invocations.toLocaleString("en")}, one per batch) | ${money(runWrites)} | ${money(runWrites)} |`,
      `| Run results: S3 storage (~${RESULT_LINE_BYTES} B a job, ${RESULT_MONTHS} months) | ${money(runStorage)} | ${money(runStorage)} |`,
      `| Run records and results: worker time (+${measured.msPerBatchForRuns.toFixed(0)} ms per batch, measured) | ${money(runLambda)} | ${money(runLambda)} |`,
      "",
      "At the rate limit a batch waits for HighLevel's budget, and Lambda bills the wait: lowering",
      "`maxConcurrency` to what the budget allows keeps that waiting short. Setting",
      '`logLevel: "WARN"` removes most of what is left of the log cost. Prices: us-east-1 list prices',
      "(Lambda arm64 $0.0000133334/GB-s and $0.20/M requests, SQS $0.40/M requests, Logs $0.50/GB",
      "ingested, DynamoDB on-demand $0.625/M writes, S3 $0.005/1,000 PUTs and $0.023/GB-month);",
      "free tiers and idle long-polling by the event source are left out. The fleet's rate-budget",
      "writes are costed per case in the fleet section.",
    ].join("\n"),
  };
}
