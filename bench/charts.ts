/**
 * SVG charts of a benchmark run, drawn from the run's own numbers with Vega-Lite (rendered
 * offline, no browser): `npm run bench` writes them to docs/charts/, and the docs show them.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import type { FleetResult } from "./fleet-drain.ts";

export const CHARTS_DIR = new URL("../docs/charts/", import.meta.url);
/** The last fleet run's results (bench/fleet.ts writes them). */
export const FLEET_DATA = new URL("./fleet-results.json", import.meta.url);

type Spec = Record<string, unknown>;

/** Renders a Vega-Lite spec to an SVG file in docs/charts/. */
export async function writeChart(name: string, spec: Spec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  const compiled = vegaLite.compile({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    background: "white",
    // No label is cut short: the case names are the point of the charts.
    config: {
      font: "Helvetica, Arial, sans-serif",
      axis: { labelFontSize: 11, labelLimit: 400 },
      legend: { labelLimit: 400 },
    },
    ...spec,
  } as never);
  const view = new vega.View(vega.parse(compiled.spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  mkdirSync(CHARTS_DIR, { recursive: true });
  const file = new URL(`${name}.svg`, CHARTS_DIR);
  writeFileSync(file, svg);
  return file.pathname;
}

/** Each 250 ms fleet case's deletions per second over its drain, as a share of its ceiling. */
export function fleetThroughputChart(results: FleetResult[]): Spec {
  const values = results
    .filter((r) => r.case.name.startsWith("250 ms"))
    .flatMap((r) =>
      // Seconds averaged in fives: HighLevel's windows are 10 s, a one-second count jitters.
      smooth(r.perSecond, 5).map((rate, second) => ({
        case: shortName(r.case.name),
        second,
        share: rate / r.ceilingPerSecond,
      })),
    );
  return {
    title: "Deletions per second against HighLevel's ceiling (250 ms answers)",
    width: 640,
    height: 300,
    data: { values },
    layer: [
      {
        mark: { type: "line", interpolate: "monotone" },
        encoding: {
          x: { field: "second", type: "quantitative", title: "seconds into the drain" },
          y: {
            field: "share",
            type: "quantitative",
            title: "share of the ceiling (5 s average)",
            scale: { domain: [0, 1.1] },
          },
          color: {
            field: "case",
            type: "nominal",
            title: null,
            legend: { orient: "bottom", columns: 2 },
          },
        },
      },
      {
        // One line at the ceiling (its own datum, not one per point of the series).
        data: { values: [{ ceiling: 1 }] },
        mark: { type: "rule", strokeDash: [4, 4], color: "gray" },
        encoding: { y: { field: "ceiling", type: "quantitative" } },
      },
    ],
  };
}

/** What a million deletions cost in each fleet case: Lambda, SQS, the coordination table. */
export function fleetCostChart(
  results: FleetResult[],
  costOf: (r: FleetResult) => { lambda: number; sqs: number; table: number },
): Spec {
  const values = results.flatMap((r) => {
    const cost = costOf(r);
    return [
      { case: r.case.name, part: "Lambda", dollars: cost.lambda },
      { case: r.case.name, part: "SQS", dollars: cost.sqs },
      { case: r.case.name, part: "coordination table", dollars: cost.table },
    ].map((bar) => ({ ...bar, case: shortName(bar.case) }));
  });
  return {
    title: "Cost per million deletions, by fleet case (list prices)",
    width: 480,
    data: { values },
    mark: "bar",
    encoding: {
      y: { field: "case", type: "nominal", title: null, sort: null },
      x: {
        field: "dollars",
        type: "quantitative",
        title: "US$ per million deletions",
        stack: "zero",
      },
      color: { field: "part", type: "nominal", title: null, legend: { orient: "bottom" } },
    },
  };
}

/** The 300-location dry-run purge: minutes for the whole plan, concurrent and one at a time. */
export function purgePlanChart(now: { seconds: number }, beforeMinutes: number): Spec {
  return {
    title: "Planning a purge of 300 sub-accounts (6,300 calls, 200–300 ms answers)",
    width: 480,
    data: {
      values: [
        { how: "one location at a time (before)", minutes: beforeMinutes },
        { how: "32 locations at once (now)", minutes: now.seconds / 60 },
      ],
    },
    layer: [
      {
        mark: "bar",
        encoding: {
          y: { field: "how", type: "nominal", title: null, sort: null },
          x: { field: "minutes", type: "quantitative", title: "minutes" },
        },
      },
      {
        mark: { type: "text", align: "left", dx: 4 },
        encoding: {
          y: { field: "how", type: "nominal", sort: null },
          x: { field: "minutes", type: "quantitative" },
          text: { field: "minutes", type: "quantitative", format: ".1f" },
        },
      },
    ],
  };
}

/** "250 ms: 20 locations at 100 / 10 s, K = 2" → "250 ms · 20 loc · K = 2". */
function shortName(name: string): string {
  return name
    .replace(/: /, " · ")
    .replace(/(\d+) locations?( at [^,]*)?,/, "$1 loc$2 ·")
    .replace(/ at (\d+) \/ 10 s/, " @$1/10s")
    .replace(/ \/ /g, "/");
}

function smooth(values: number[], window: number): number[] {
  return values.map((_, i) => {
    const from = Math.max(0, i - window + 1);
    const slice = values.slice(from, i + 1);
    return slice.reduce((a, b) => a + b, 0) / slice.length;
  });
}

/** `npm run bench:charts`: the fleet charts again from the last run's saved results. */
if (process.argv[1]?.endsWith("charts.ts")) {
  const { readFileSync } = await import("node:fs");
  const { fleetCost } = await import("./fleet-cost.ts");
  const results = JSON.parse(readFileSync(FLEET_DATA, "utf8")) as FleetResult[];
  await writeChart("fleet-throughput", fleetThroughputChart(results));
  await writeChart("fleet-cost", fleetCostChart(results, fleetCost));
}
