/**
 * `npm run bench` (second part): the fleet as it is deployed — K worker processes, each its own
 * memory like a Lambda container, one queue, the fleet's budget in the coordination table, the
 * sandbox's fixed windows. Prints a table and writes bench/FLEET-RESULTS.md.
 */
import "../cli/quiet-worker.ts";
import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { PIPELINE_DEFAULTS } from "../infra/settings.ts";
import { FLEET_DATA, fleetCostChart, fleetThroughputChart, writeChart } from "./charts.ts";
import { fleetCost } from "./fleet-cost.ts";
import {
  drainWithFleet,
  type FleetCase,
  type FleetResult,
  RESULTS_FILE,
  withFleetSection,
} from "./fleet-drain.ts";
import { AWS_STORE_LATENCY_MS } from "./latency-proxy.ts";

const FAST_BURST = { max: 50, intervalMs: 2_000 };
/** HighLevel's documented burst limit, per location. */
const DOCUMENTED = { max: 100, intervalMs: 10_000 };
/** HighLevel answers across the internet: each answer takes 200–300 ms. */
const REALISTIC_LATENCY = { min: 200, max: 300 };
/** 5 sub-accounts with 300 uploads each, 295 with 5. */
const AGENCY_SKEW = { big: 5, bigJobs: 300, smallJobs: 5 };
const AGENCY_CASE = "250 ms: agency, 300 locations (5 × 300 jobs, 295 × 5) at 100 / 10 s, K = 4";
const MANY_SMALL_CASE = "250 ms: 100 locations at 20 / 10 s, K = 2";
const K8_CASE = "250 ms: 20 locations at 100 / 10 s, K = 8";
const envNumber = (name: string) =>
  process.env[name] === undefined ? undefined : Number(process.env[name]);
const budgetWaitMs = envNumber("BUDGET_WAIT_MS");
// The stack's settings; to try others: FLEET_LANES=64 FLEET_BATCH_SIZE=100 FLEET_WINDOW_S=1
// BUDGET_WAIT_MS=5000 npm run bench:fleet
const base = {
  workerConcurrency: envNumber("FLEET_LANES") ?? PIPELINE_DEFAULTS.workerConcurrency,
  batchSize: envNumber("FLEET_BATCH_SIZE") ?? PIPELINE_DEFAULTS.batchSize,
  batchingWindowSeconds: envNumber("FLEET_WINDOW_S") ?? PIPELINE_DEFAULTS.maxBatchingWindowSeconds,
  functionTimeoutSeconds: PIPELINE_DEFAULTS.functionTimeoutSeconds,
  ...(budgetWaitMs !== undefined && { budgetWaitMs }),
};
const fast = { ...base, burst: FAST_BURST, latencyMs: 20 };
const realistic = { ...base, burst: DOCUMENTED, latencyMs: REALISTIC_LATENCY };
const cases: FleetCase[] = [
  // HighLevel's real answer times at its documented limit: a typical agency's 20 sub-accounts.
  ...[1, 2, 4, 8].map((containers) => ({
    ...realistic,
    name: `250 ms: 20 locations at 100 / 10 s, K = ${containers}`,
    locations: 20,
    jobs: 8_000,
    containers,
    order: "interleaved" as const,
  })),
  {
    ...realistic,
    name: MANY_SMALL_CASE,
    locations: 100,
    jobs: 8_000,
    containers: 2,
    order: "interleaved",
    burst: { max: 20, intervalMs: 10_000 },
  },
  {
    // An agency's purge: a few large sub-accounts, most with a handful of uploads, exported
    // sorted by location and sent through the producers' interleaving (as `enqueue` does).
    ...realistic,
    name: AGENCY_CASE,
    locations: 300,
    jobs: AGENCY_SKEW.big * AGENCY_SKEW.bigJobs + (300 - AGENCY_SKEW.big) * AGENCY_SKEW.smallJobs,
    containers: 4,
    order: "grouped-via-producer",
    skew: AGENCY_SKEW,
  },
  {
    ...realistic,
    name: "250 ms: 1 hot location at 100 / 10 s, K = 2",
    locations: 1,
    jobs: 600,
    containers: 2,
    order: "interleaved",
  },
  // Fast answers (20 ms) and tight windows: the pacing itself, as measured before.
  ...[1, 2, 4, 8].map((containers) => ({
    ...fast,
    name: `20 ms: 4 locations, interleaved, K = ${containers}`,
    locations: 4,
    // About a minute each: a bulk run's one-off start (cold first invocations, each location's
    // limit learnt) weighs as it does at scale, not 7% of a 20 s drain as with 2,000 jobs.
    jobs: 6_000,
    containers,
    order: "interleaved" as const,
  })),
  {
    ...fast,
    name: "20 ms: 4 locations, interleaved, K = 4, each container pacing alone (no table)",
    locations: 4,
    jobs: 2_000,
    containers: 4,
    order: "interleaved",
    perContainerPacing: true,
  },
  {
    ...fast,
    name: "20 ms: 1 hot location, K = 4",
    locations: 1,
    jobs: 750,
    containers: 4,
    order: "interleaved",
  },
  {
    ...fast,
    name: "20 ms: 10 locations grouped by location, K = 4",
    locations: 10,
    jobs: 3_000,
    containers: 4,
    order: "grouped",
  },
  {
    // The control for the two grouped cases: what this machine reaches with 10 locations.
    ...fast,
    name: "20 ms: 10 locations, interleaved, K = 4",
    locations: 10,
    jobs: 3_000,
    containers: 4,
    order: "interleaved",
  },
  {
    ...fast,
    name: "20 ms: 10 locations grouped, through the producers' interleaving, K = 4",
    locations: 10,
    jobs: 3_000,
    containers: 4,
    order: "grouped-via-producer",
  },
];

/** `FLEET_CASES=grouped npm run bench:fleet` runs the cases whose name contains that text. */
const only = process.env.FLEET_CASES;
const chosen = only ? cases.filter((c) => c.name.includes(only)) : cases;
const results: FleetResult[] = [];
for (const [n, fleetCase] of chosen.entries()) {
  process.stderr.write(`fleet ${n + 1}/${chosen.length}: ${fleetCase.name}\n`);
  results.push(await drainWithFleet(fleetCase));
}
const pct = (part: number, whole: number) => `${((100 * part) / Math.max(1, whole)).toFixed(2)}%`;
const rows = [
  [
    "case",
    "429s (of calls)",
    "deletions/s",
    "of the ceiling",
    "middle 80%: of the ceiling",
    "dead letters",
    "not deleted",
    "table writes (write units) / reads per deletion",
    "drain: lower bound (s), ratio",
    "hand-backs per deletion",
    "Lambda GB-s per 1M deletions",
    "$ per 1M deletions: Lambda + SQS + table",
    "CPU busy (all cores)",
  ],
  ...results.map((r) => fleetRow(r)),
];

function fleetRow(r: FleetResult): string[] {
  const cost = fleetCost(r);
  const money = (value: number) => `$${value.toFixed(2)}`;
  return [
    r.case.name,
    `${r.throttled} of ${r.calls} (${pct(r.throttled, r.calls)})`,
    r.deletionsPerSecond.toFixed(1),
    `${(r.deletionsPerSecond / r.ceilingPerSecond).toFixed(3)} of ${r.ceilingPerSecond}/s`,
    (r.middleRate / r.ceilingPerSecond).toFixed(3),
    String(r.deadLettered),
    String(r.case.jobs - r.deleted),
    `${r.tableWritesPerDeletion.toFixed(2)} (${r.tableWriteUnitsPerDeletion.toFixed(2)}) / ${r.tableReadsPerDeletion.toFixed(2)}`,
    `${r.lowerBoundSeconds.toFixed(1)}, ${(r.seconds / r.lowerBoundSeconds).toFixed(2)}×`,
    (r.handedBack / Math.max(1, r.deleted)).toFixed(2),
    Math.round(cost.gbSecondsPerMillion).toLocaleString("en"),
    `${money(cost.total)} (${money(cost.lambda)} + ${money(cost.sqs)} + ${money(cost.table)})`,
    `${Math.round(100 * r.cpuBusyShare)}%`,
  ];
}
const markdown = (all: string[][]) =>
  [
    `| ${all[0]?.join(" | ")} |`,
    `|${all[0]?.map(() => "---").join("|")}|`,
    ...all.slice(1).map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
const table = `${markdown(rows)}\n\n### Agency-scale targets (issue #27)\n\n${markdown(targetRows(results))}`;

/** The agency-scale targets, each with what this run measured and whether it met it. */
function targetRows(all: FleetResult[]): string[][] {
  const find = (name: string) => all.find((r) => r.case.name === name);
  const share = (r: FleetResult) => r.deletionsPerSecond / r.ceilingPerSecond;
  const throttled = (r: FleetResult) => r.throttled / Math.max(1, r.calls);
  const met = (ok: boolean) => (ok ? "met" : "**not met**");
  const out = [["target", "measured", "verdict"]];
  for (const [label, name] of [
    ["100 locations at 20 / 10 s, K = 2: ≥ 0.85 of the ceiling, ≤ 0.5% 429s", MANY_SMALL_CASE],
    ["20 locations at 100 / 10 s, K = 8: ≥ 0.85 of the ceiling, ≤ 0.5% 429s", K8_CASE],
  ] as const) {
    const r = find(name);
    if (!r) continue;
    out.push([
      label,
      `${share(r).toFixed(3)}, ${(100 * throttled(r)).toFixed(2)}% 429s`,
      met(share(r) >= 0.85 && throttled(r) <= 0.005),
    ]);
  }
  const many = find(MANY_SMALL_CASE);
  if (many) {
    const cost = fleetCost(many);
    out.push([
      "100 locations: ≤ 0.3 table writes per deletion (write units, the billed ones), ≤ $0.35 per million all in",
      `${many.tableWritesPerDeletion.toFixed(2)} writes (${many.tableWriteUnitsPerDeletion.toFixed(2)} units), $${cost.total.toFixed(2)} per million`,
      met(
        Math.max(many.tableWritesPerDeletion, many.tableWriteUnitsPerDeletion) <= 0.3 &&
          cost.total <= 0.35,
      ),
    ]);
  }
  const agency = find(AGENCY_CASE);
  if (agency) {
    const ratio = agency.seconds / agency.lowerBoundSeconds;
    out.push([
      "300 skewed locations: drain ≤ 1.15 × the lower bound",
      `${agency.seconds.toFixed(1)} s of ${agency.lowerBoundSeconds.toFixed(1)} s: ${ratio.toFixed(2)}×`,
      met(ratio <= 1.15),
    ]);
  }
  const fastShares = [1, 2, 4]
    .map((k) => find(`20 ms: 4 locations, interleaved, K = ${k}`))
    .filter((r): r is FleetResult => r !== undefined)
    .map(share);
  const hot = find("20 ms: 1 hot location, K = 4");
  if (fastShares.length > 0 && hot) {
    out.push([
      "20 ms cases: ≥ 0.93 of the ceiling at K = 1, 2, 4; the hot location ≥ 0.9",
      `${fastShares.map((x) => x.toFixed(3)).join(" / ")}; hot ${share(hot).toFixed(3)}`,
      met(Math.min(...fastShares) >= 0.93 && share(hot) >= 0.9),
    ]);
  }
  const worst = Math.max(...all.filter((r) => !r.case.perContainerPacing).map(throttled));
  out.push([
    "every fleet case (the table kept): ≤ 0.5% 429s",
    `worst ${(100 * worst).toFixed(2)}%`,
    met(worst <= 0.005),
  ]);
  return out;
}
// A partial run prints its table and leaves the files of the last full run alone.
if (!only) {
  const about = `Written by \`npm run bench\` on ${new Date().toISOString()}.

- Machine: ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}
- Each container is a separate process running the real handler, one invocation at a time
  (batches of ${base.batchSize}, a ${base.batchingWindowSeconds} s batching window, at most
  ${base.workerConcurrency} HighLevel calls in flight, ${base.functionTimeoutSeconds} s timeout);
  fauxqs, the sandbox and the coordination table (dynalite) share one more process.
- As deployed, the workers write run records and results, and the stores answer as slowly as
  AWS's: every S3 request is held ${AWS_STORE_LATENCY_MS.s3} ms and every DynamoDB request (the budget's table
  too) ${AWS_STORE_LATENCY_MS.dynamoDb} ms by a proxy (bench/latency-proxy.ts).
- "250 ms" cases: HighLevel's documented limit (${DOCUMENTED.max} calls / ${DOCUMENTED.intervalMs / 1000} s per location unless
  named), answers drawn from ${REALISTIC_LATENCY.min}–${REALISTIC_LATENCY.max} ms. "20 ms" cases: ${FAST_BURST.max} calls / ${FAST_BURST.intervalMs} ms,
  20 ms answers. The sandbox's windows are fixed, from each location's first call.
- Cost: list prices (Lambda arm64 at ${PIPELINE_DEFAULTS.functionMemoryMiB} MB, SQS, DynamoDB on-demand),
  from the case's own counts (bench/fleet-cost.ts); logs are in RESULTS.md's cost model.
- On this 2-core machine up to nine Node processes share the CPU: the larger fleets measure the
  machine as much as the pipeline.

${table}
`;
  writeFileSync(new URL("./FLEET-RESULTS.md", import.meta.url), `# Fleet benchmark\n\n${about}`);
  // The run's numbers, as the charts read them (`npm run bench:charts` draws them again).
  writeFileSync(FLEET_DATA, `${JSON.stringify(results)}\n`);
  // The charts of docs/benchmarks.md, from this run's own numbers.
  await writeChart("fleet-throughput", fleetThroughputChart(results));
  await writeChart("fleet-cost", fleetCostChart(results, fleetCost));
  // The same table in RESULTS.md, beside the single-container figures.
  writeFileSync(
    RESULTS_FILE,
    withFleetSection(
      RESULTS_FILE,
      `## The fleet: K containers, each a separate process\n\n${about}`,
    ),
  );
}
process.stdout.write(`${table}\n`);
