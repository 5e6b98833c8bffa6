/**
 * `npm run bench` (second part): the fleet as it is deployed — K worker processes, each its own
 * memory like a Lambda container, one queue, the fleet's budget in the coordination table, the
 * sandbox's fixed windows. Prints a table and writes bench/FLEET-RESULTS.md.
 */
import "../cli/quiet-worker.ts";
import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { PIPELINE_DEFAULTS } from "../infra/settings.ts";
import {
  drainWithFleet,
  type FleetCase,
  type FleetResult,
  RESULTS_FILE,
  withFleetSection,
} from "./fleet-drain.ts";

const BURST = { max: 50, intervalMs: 2_000 };
// The stack's lanes per invocation (to try others: FLEET_LANES=10 npm run bench:fleet).
const base = {
  burst: BURST,
  latencyMs: 20,
  workerConcurrency: Number(process.env.FLEET_LANES ?? PIPELINE_DEFAULTS.workerConcurrency),
} as const;
const cases: FleetCase[] = [
  ...[1, 2, 4, 8].map((containers) => ({
    ...base,
    name: `4 locations, interleaved, K = ${containers}`,
    locations: 4,
    // About a minute each: a bulk run's one-off start (cold first invocations, each location's
    // limit learnt) weighs as it does at scale, not 7% of a 20 s drain as with 2,000 jobs.
    jobs: 6_000,
    containers,
    order: "interleaved" as const,
  })),
  {
    ...base,
    name: "4 locations, interleaved, K = 4, each container pacing alone (no table)",
    locations: 4,
    jobs: 2_000,
    containers: 4,
    order: "interleaved",
    perContainerPacing: true,
  },
  {
    ...base,
    name: "1 hot location, K = 4",
    locations: 1,
    jobs: 750,
    containers: 4,
    order: "interleaved",
  },
  {
    ...base,
    name: "10 locations grouped by location, K = 4",
    locations: 10,
    jobs: 3_000,
    containers: 4,
    order: "grouped",
  },
  {
    // The control for the two grouped cases: what this machine reaches with 10 locations.
    ...base,
    name: "10 locations, interleaved, K = 4",
    locations: 10,
    jobs: 3_000,
    containers: 4,
    order: "interleaved",
  },
  {
    ...base,
    name: "10 locations grouped, through the producers' interleaving, K = 4",
    locations: 10,
    jobs: 3_000,
    containers: 4,
    order: "grouped-via-producer",
  },
];

/** DynamoDB on-demand, us-east-1 list prices: $0.625 per million writes, $0.125 per million reads. */
const TABLE_PRICE = { write: 0.625 / 1e6, read: 0.125 / 1e6 };
/**
 * SQS, $0.40 per million requests. A hand-back costs a ChangeMessageVisibility and a tenth of
 * the ReceiveMessage that brings it back; the cost model in RESULTS.md holds the rest.
 */
const HAND_BACK_PRICE = (1 + 1 / 10) * (0.4 / 1e6);
const extraCost = (r: FleetResult) =>
  1e6 *
  (r.tableWritesPerDeletion * TABLE_PRICE.write +
    r.tableReadsPerDeletion * TABLE_PRICE.read +
    (r.handedBack / Math.max(1, r.deleted)) * HAND_BACK_PRICE);

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
    "table writes / reads per deletion",
    "hand-backs per deletion",
    "table + hand-back $ per 1M deletions",
    "CPU busy (all cores)",
  ],
  ...results.map((r) => [
    r.case.name,
    `${r.throttled} of ${r.calls} (${pct(r.throttled, r.calls)})`,
    r.deletionsPerSecond.toFixed(1),
    `${(r.deletionsPerSecond / r.ceilingPerSecond).toFixed(3)} of ${r.ceilingPerSecond}/s`,
    (r.middleRate / r.ceilingPerSecond).toFixed(3),
    String(r.deadLettered),
    String(r.case.jobs - r.deleted),
    `${r.tableWritesPerDeletion.toFixed(2)} / ${r.tableReadsPerDeletion.toFixed(2)}`,
    (r.handedBack / Math.max(1, r.deleted)).toFixed(2),
    `$${extraCost(r).toFixed(2)}`,
    `${Math.round(100 * r.cpuBusyShare)}%`,
  ]),
];
const table = [
  `| ${rows[0]?.join(" | ")} |`,
  `|${rows[0]?.map(() => "---").join("|")}|`,
  ...rows.slice(1).map((row) => `| ${row.join(" | ")} |`),
].join("\n");
// A partial run prints its table and leaves the files of the last full run alone.
if (!only) {
  const about = `Written by \`npm run bench\` on ${new Date().toISOString()}.

- Machine: ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}
- Each container is a separate process running the real handler, one invocation at a time,
  ${base.workerConcurrency} jobs in flight; fauxqs, the sandbox and the coordination table
  (dynalite) share one more process. Sandbox: ${BURST.max} calls / ${BURST.intervalMs} ms per
  location (fixed windows from the first call), ${base.latencyMs} ms answers.
- On this 2-core machine up to nine Node processes share the CPU: the larger fleets measure the
  machine as much as the pipeline.

${table}
`;
  writeFileSync(new URL("./FLEET-RESULTS.md", import.meta.url), `# Fleet benchmark\n\n${about}`);
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
