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
};

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
}) {
  const invocations = DELETIONS / BATCH;
  // Per job: 1/10 SendMessageBatch to enqueue, 1/10 ReceiveMessage and 1/10 DeleteMessageBatch by the event source.
  const sqsRequests = (DELETIONS / SQS_BATCH) * 3;
  const lambdaAt = (ms: number) => invocations * (ms / 1000) * MEMORY_GB * PRICE.lambdaGbSecond;
  const requests = invocations * PRICE.lambdaRequest;
  const sqs = sqsRequests * PRICE.sqsRequest;
  const logs = ((DELETIONS * LOG_BYTES_PER_JOB) / 1e9) * PRICE.logsGb;
  const unthrottled = lambdaAt(measured.msPerBatchUnthrottled) + requests + sqs;
  const atLimit = lambdaAt(measured.msPerBatchAtLimit) + requests + sqs;
  const money = (value: number) => `$${value.toFixed(2)}`;
  return {
    summary: `${money(unthrottled)} unthrottled, ${money(atLimit)} at the rate limit (+ ${money(logs)} logs at INFO)`,
    details: [
      `Per million deletions, with 256 MB arm64 workers and batches of ${BATCH} (${invocations.toLocaleString("en")} invocations):`,
      "",
      "| item | unthrottled | at the rate limit |",
      "|---|---|---|",
      `| Lambda duration (${measured.msPerBatchUnthrottled.toFixed(0)} / ${measured.msPerBatchAtLimit.toFixed(0)} ms per batch, measured) | ${money(lambdaAt(measured.msPerBatchUnthrottled))} | ${money(lambdaAt(measured.msPerBatchAtLimit))} |`,
      `| Lambda requests (${invocations.toLocaleString("en")}) | ${money(requests)} | ${money(requests)} |`,
      `| SQS requests (${sqsRequests.toLocaleString("en")}: enqueue, receive, delete) | ${money(sqs)} | ${money(sqs)} |`,
      `| CloudWatch Logs at INFO (~${LOG_BYTES_PER_JOB} B per job) | ${money(logs)} | ${money(logs)} |`,
      "",
      "At the rate limit a batch waits for HighLevel's budget, and Lambda bills the wait: lowering",
      "`maxConcurrency` to what the budget allows keeps that waiting short. Setting",
      '`logLevel: "WARN"` removes most of what is left of the log cost. Prices: us-east-1 list prices',
      "(Lambda arm64 $0.0000133334/GB-s and $0.20/M requests, SQS $0.40/M requests, Logs $0.50/GB",
      "ingested); free tiers and idle long-polling by the event source are left out.",
    ].join("\n"),
  };
}
