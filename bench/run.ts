/**
 * `npm run bench`: how close the pipeline runs to HighLevel's rate limit, what a deletion
 * costs, and how it compares with what a user would otherwise write. Prints a table and
 * writes bench/RESULTS.md. Never part of `npm test`.
 */
import "../cli/quiet-worker.ts";
import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { PIPELINE_DEFAULTS } from "../infra/settings.ts";
import { officialSdk, plainKy, runAlternative } from "./alternatives.ts";
import { purgePlanChart, writeChart } from "./charts.ts";
import { measureColdStart } from "./cold-start.ts";
import { estimateCost } from "./cost-model.ts";
import { measureEnqueue, measureEnqueueCli } from "./enqueue-throughput.ts";
import { fleetSectionOf, RESULTS_FILE } from "./fleet-drain.ts";
import { AWS_STORE_LATENCY_MS } from "./latency-proxy.ts";
import { type DrainResult, drainThroughPipeline } from "./pipeline-drain.ts";
import { measurePurgePlanCli, measurePurgePlanSequential } from "./purge-plan.ts";
import { measureReportCli } from "./report-read.ts";

const JOBS = 3_000;
const LOCATIONS = 4;
const BURST = { max: 50, intervalMs: 2_000 };
const LATENCY_MS = 20;
const STORE_LATENCY_MS = AWS_STORE_LATENCY_MS;
/** The alternatives run as many calls at once as the first version's fleet did (2 × 5 lanes). */
const CONCURRENCY = 10;
const ceiling = (LOCATIONS * BURST.max) / (BURST.intervalMs / 1000);
/** The shortest possible drain of a fixed-window limit: full windows back to back. */
const idealSeconds = (Math.ceil(JOBS / (LOCATIONS * BURST.max)) - 1) * (BURST.intervalMs / 1000);

const log = (line: string) => process.stderr.write(`${line}\n`);
const fixed = (value: number, digits = 1) => value.toFixed(digits);
const signed = (value: number) => `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(1)}`;
const started = Date.now();

log(
  `1/5 rate-limit efficiency: ${JOBS} jobs, ${LOCATIONS} locations, ${BURST.max} calls / ${BURST.intervalMs} ms each, ${LATENCY_MS} ms latency`,
);
const ours = await drainThroughPipeline({
  jobs: JOBS,
  locations: LOCATIONS,
  burst: BURST,
  latencyMs: LATENCY_MS,
  maxConcurrency: PIPELINE_DEFAULTS.maxConcurrency,
  functionTimeoutSeconds: PIPELINE_DEFAULTS.functionTimeoutSeconds,
  recordRuns: true,
});
log(`2/5 alternatives at concurrency ${CONCURRENCY}`);
const sdk = await runAlternative(officialSdk(), {
  jobs: JOBS,
  locations: LOCATIONS,
  burst: BURST,
  latencyMs: LATENCY_MS,
  concurrency: CONCURRENCY,
});
const naive = await runAlternative(plainKy(), {
  jobs: JOBS,
  locations: LOCATIONS,
  burst: BURST,
  latencyMs: LATENCY_MS,
  concurrency: CONCURRENCY,
});
log(
  "3/5 overhead: unlimited sandbox, zero latency, one invocation at a time (a Lambda container), without and with run records and results, alternating",
);
const overheadRuns: Array<{ off: DrainResult; on: DrainResult }> = [];
for (let round = 0; round < 3; round++) {
  const overheadCase = (recordRuns: boolean) =>
    drainThroughPipeline({
      jobs: 5_000,
      locations: LOCATIONS,
      latencyMs: 0,
      maxConcurrency: 1,
      functionTimeoutSeconds: PIPELINE_DEFAULTS.functionTimeoutSeconds,
      recordRuns,
    });
  const off = await overheadCase(false);
  const on = await overheadCase(true);
  overheadRuns.push({ off, on });
}
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const overhead = overheadRuns
  .map((r) => r.on)
  .sort((a, b) => a.msPerBatch - b.msPerBatch)[1] as DrainResult;
const batchMsOff = median(overheadRuns.map((r) => r.off.msPerBatch));
const batchMsOn = median(overheadRuns.map((r) => r.on.msPerBatch));
const cpuOff = median(overheadRuns.map((r) => r.off.handlerCpuMsPerDeletion));
const cpuOn = median(overheadRuns.map((r) => r.on.handlerCpuMsPerDeletion));
log(
  `3a/5 run records where users run: S3 answering in ${STORE_LATENCY_MS.s3} ms and DynamoDB in ${STORE_LATENCY_MS.dynamoDb} ms (the budget's table too), one invocation at a time, without and with, at 0 ms and at 250 ms answers`,
);
const withStoreLatency = (latencyMs: number, jobs: number, recordRuns: boolean) =>
  drainThroughPipeline({
    jobs,
    locations: LOCATIONS,
    latencyMs,
    maxConcurrency: 1,
    functionTimeoutSeconds: PIPELINE_DEFAULTS.functionTimeoutSeconds,
    recordRuns,
    storeLatencyMs: STORE_LATENCY_MS,
  });
const awsLike = [];
for (const [latencyMs, jobs] of [
  [0, 5_000],
  [250, 10_000],
] as const) {
  const off = await withStoreLatency(latencyMs, jobs, false);
  const on = await withStoreLatency(latencyMs, jobs, true);
  awsLike.push({ latencyMs, off, on });
}
const atAnswerTime = awsLike.find((r) => r.latencyMs === 250) ?? awsLike[0];
log(
  `3b/5 report: the shipped CLI (dist/), \`report <run> --out run.csv\` of 100,000 and 1,000,000 jobs; 100,000 again with S3 at ${STORE_LATENCY_MS.s3} ms`,
);
const reports = [
  await measureReportCli(100_000),
  await measureReportCli(1_000_000),
  // S3 answering each GET in tens of ms, as the CLI's reads wait on AWS.
  await measureReportCli(100_000, STORE_LATENCY_MS.s3),
];
log(
  "4/5 enqueue: 100,000 jobs with the library, 10,000 one SendMessage at a time; the shipped CLI streaming a file of 100,000 and 1,000,000",
);
const enqueue = await measureEnqueue(100_000, 10_000);
const enqueueCli = [await measureEnqueueCli(100_000), await measureEnqueueCli(1_000_000)];
log(
  "4b/5 purge plan: the shipped CLI (dist/), `purge --all-locations --token-file … --dry-run` over 300 locations × 20 uploads (5 posts each), 200–300 ms answers, 100 calls / 10 s per location; then one location at a time (cut at 60 s)",
);
const purgeNow = await measurePurgePlanCli({ locations: 300 });
const purgeBefore = await measurePurgePlanSequential({ locations: 300, limitSeconds: 60 });
log("5/5 cold start: bundle size and fresh-process import time (median of 11)");
const cold = await measureColdStart(11);
const cost = estimateCost({
  msPerBatchAtLimit: ours.msPerBatch,
  msPerBatchUnthrottled: overhead.msPerBatch,
  // What the records cost where users run: the stores at AWS's latency, answers at 250 ms.
  msPerBatchForRuns: Math.max(
    0,
    (atAnswerTime?.on.msPerBatch ?? 0) - (atAnswerTime?.off.msPerBatch ?? 0),
  ),
});

const rows: string[][] = [
  ["measure", "result", "target"],
  [
    "ghl-csv-purge, one container: throughput at the rate limit",
    `${fixed(ours.deletionsPerSecond)} deletions/s = ${fixed(ours.deletionsPerSecond / ceiling, 3)} of the ceiling (${ceiling}/s); drain ${fixed(ours.seconds)} s vs ${fixed(idealSeconds)} s ideal (${fixed(idealSeconds / ours.seconds, 3)})`,
    "≥ 0.9",
  ],
  [
    "ghl-csv-purge, one container: 429s",
    `${ours.throttled} of ${ours.calls} calls (${fixed((100 * ours.throttled) / ours.calls, 2)}%), ${ours.failed} not deleted`,
    "< 1%",
  ],
  [
    `${sdk.name}`,
    `${fixed(sdk.deletionsPerSecond)} deletions/s, ${sdk.throttled} 429s of ${sdk.calls} calls, ${sdk.failed} not deleted, ${fixed(sdk.seconds)} s`,
    "—",
  ],
  [
    `${naive.name}`,
    `${fixed(naive.deletionsPerSecond)} deletions/s, ${naive.throttled} 429s of ${naive.calls} calls, ${naive.failed} not deleted, ${fixed(naive.seconds)} s`,
    "—",
  ],
  [
    "overhead (no limit, 0 ms latency, one invocation at a time)",
    `${fixed(overhead.deletionsPerSecond)} deletions/s; worker CPU ${fixed(overhead.handlerCpuMsPerDeletion, 3)} ms per deletion in the handler, ${fixed(overhead.workerCpuMsPerDeletion, 3)} ms with the event source's receives and deletes; ${fixed(overhead.msPerBatch)} ms per batch of ${PIPELINE_DEFAULTS.batchSize}`,
    "≤ 1 ms",
  ],
  [
    "run records and results: worker time per batch",
    `embedded stores (< 1 ms): ${fixed(batchMsOn)} ms with, ${fixed(batchMsOff)} ms without (median of 3 alternating pairs): ${signed((100 * (batchMsOn - batchMsOff)) / batchMsOff)}% at 0 ms answers; handler CPU ${fixed(cpuOn, 3)} vs ${fixed(cpuOff, 3)} ms per deletion`,
    "≤ +10%",
  ],
  ...awsLike.map(({ latencyMs, off, on }) => [
    `run records and results: worker time per batch, S3 at ${STORE_LATENCY_MS.s3} ms and DynamoDB at ${STORE_LATENCY_MS.dynamoDb} ms, ${latencyMs} ms answers`,
    `${fixed(on.msPerBatch)} ms with, ${fixed(off.msPerBatch)} ms without (${off.batches} and ${on.batches} batches of ${off.jobs / Math.max(1, off.batches)}): ${signed((100 * (on.msPerBatch - off.msPerBatch)) / off.msPerBatch)}%, ${signed(on.msPerBatch - off.msPerBatch)} ms`,
    "≤ +10%",
  ]),
  ...reports.map((r) => [
    `report --out run.csv (the shipped CLI, own process) of ${r.jobs.toLocaleString("en")} jobs (${r.objects} objects, ${r.lines.toLocaleString("en")} lines, 1% settled twice), ${r.s3LatencyMs ? `S3 at ${r.s3LatencyMs} ms and DynamoDB at ${STORE_LATENCY_MS.dynamoDb} ms per request` : "embedded S3"}`,
    `${fixed(r.seconds)} s (${Math.round(r.rowsPerSecond).toLocaleString("en")} rows/s), peak RSS ${Math.round(r.peakRssMiB)} MiB`,
    r.jobs === 100_000 ? "≤ 10 s, flat" : "bounded",
  ]),
  [
    "enqueue",
    `library ${Math.round(enqueue.libraryPerSecond)} jobs/s (100k in ${fixed(enqueue.librarySeconds)} s); one-by-one ${Math.round(enqueue.oneByOnePerSecond)} jobs/s; ${fixed(enqueue.speedup)}×`,
    "≥ 8×",
  ],
  ...enqueueCli.map((r) => [
    `enqueue jobs.csv (the shipped CLI, own process): ${r.jobs.toLocaleString("en")} jobs over 50 locations`,
    `${fixed(r.seconds)} s (${Math.round(r.jobsPerSecond).toLocaleString("en")} jobs/s), peak RSS ${Math.round(r.peakRssMiB)} MiB`,
    "flat memory (< 400 MiB)",
  ]),
  [
    "purge --all-locations --dry-run (the shipped CLI, own process): 300 locations × 20 uploads (6,300 calls), 200–300 ms answers",
    `${fixed(purgeNow.seconds)} s (${Math.round(purgeNow.callsPerSecond)} calls/s, ${purgeNow.locationsPlanned} of 300 planned), ${purgeNow.throttled} 429s of ${purgeNow.calls} calls (${fixed((100 * purgeNow.throttled) / Math.max(1, purgeNow.calls), 2)}%); one location at a time (before): ${fixed(purgeBefore.callsPerSecond)} calls/s, ${purgeBefore.locationsPlanned} locations in ${fixed(purgeBefore.seconds)} s ≈ ${fixed(((300 / Math.max(1, purgeBefore.locationsPlanned)) * purgeBefore.seconds) / 60)} min for all`,
    "≤ 60 s, ≤ 0.5% 429s",
  ],
  ...cold.map((c) => [
    `cold import: ${c.variant}`,
    `${Math.round(c.bundleBytes / 1024)} KiB; ${fixed(c.medianImportMs)} ms vs empty handler ${fixed(c.emptyMedianImportMs)} ms = ${fixed(c.ratio, 2)}×`,
    "≤ 2×",
  ]),
  ["cost per million deletions", `${cost.summary}`, "—"],
];

const markdownTable = [
  `| ${rows[0]?.join(" | ")} |`,
  `|${rows[0]?.map(() => "---").join("|")}|`,
  ...rows.slice(1).map((row) => `| ${row.join(" | ")} |`),
].join("\n");

const results = `# Benchmark results

Written by \`npm run bench\` on ${new Date().toISOString()}.

- Machine: ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB
- Node: ${process.version}
- Sandbox: ${LOCATIONS} locations, burst ${BURST.max} calls / ${BURST.intervalMs} ms per location (fixed windows), ${LATENCY_MS} ms latency, in its own process with fauxqs
- Pipeline: the stack's defaults (maxConcurrency ${PIPELINE_DEFAULTS.maxConcurrency}, at most ${PIPELINE_DEFAULTS.workerConcurrency} HighLevel calls in flight per container, batches of ${PIPELINE_DEFAULTS.batchSize}); alternatives at ${CONCURRENCY} calls at once
- Run records were measured twice: against the embedded stores (their CPU) and with S3 and DynamoDB held ${STORE_LATENCY_MS.s3} / ${STORE_LATENCY_MS.dynamoDb} ms per request by a proxy (bench/latency-proxy.ts), as a Lambda container waits for AWS's; the cost model uses the second at 250 ms answers
- The overhead case runs one invocation at a time, as a Lambda container does, so the CPU inside invocations is the handler's own; the whole process adds the event source's receives and deletes (AWS's work, not the function's)

${markdownTable}

## Cost model

${cost.details}
`;
await writeChart(
  "purge-plan",
  purgePlanChart(
    purgeNow,
    (300 / Math.max(1, purgeBefore.locationsPlanned)) * (purgeBefore.seconds / 60),
  ),
);
// The fleet's section (bench/fleet.ts) stays until the fleet cases run again.
writeFileSync(RESULTS_FILE, results + fleetSectionOf(RESULTS_FILE));
process.stdout.write(
  `${markdownTable}\n\n(${fixed((Date.now() - started) / 1000)} s; written to bench/RESULTS.md)\n`,
);
