import { describe, expect, it } from "vitest";
import { type ResultLine, toJsonLine } from "../../functions/core/runs/result-line.ts";
import {
  LatestByJob,
  REPORT_OBJECTS_AHEAD,
  type ReportSource,
  readRunReport,
} from "../../functions/core/runs/run-report.ts";

const line = (csvId: string, outcome: ResultLine["outcome"], second: number): ResultLine => ({
  runId: "r",
  locationId: "loc",
  csvId,
  outcome,
  ...(outcome === "dead-lettered" && { reason: "rejected" as const, status: 422 }),
  attempts: 1,
  finishedAt: new Date(Date.UTC(2026, 11, 2, 0, 0, second)).toISOString(),
  messageId: `m-${csvId}-${second}`,
});

/** Offers lines in order (their index is their position) and returns the latest per job. */
function latest(lines: ResultLine[], tracker = new LatestByJob()) {
  lines.forEach((l, position) => {
    tracker.offer(l, position);
  });
  return {
    rows: lines.filter((l, position) => tracker.isLatest(l, position)),
    summary: tracker.summary(),
  };
}

describe("the report's latest outcome per job", () => {
  const lines = [
    line("a", "dead-lettered", 1),
    line("b", "deleted", 2),
    line("a", "deleted", 5), // redriven, then deleted
    line("b", "already-absent", 6), // a second copy found it gone: b stays deleted
    line("c", "already-absent", 3),
    line("d", "deleted", 4),
    line("d", "dead-lettered", 2), // finished earlier, read later: not the latest
  ];
  const expected = [
    ["a", "deleted"],
    ["b", "deleted"],
    ["c", "already-absent"],
    ["d", "deleted"],
  ];

  it("keeps each job once, its last outcome, and never lets a later 'already absent' hide a deletion", () => {
    const { rows, summary } = latest(lines);
    expect(rows.map((r) => [r.csvId, r.outcome]).sort()).toEqual(expected);
    expect(summary).toEqual({
      jobs: 4,
      counts: { deleted: 3, alreadyAbsent: 1, deadLettered: 0, deadLetteredByReason: {} },
    });
  });

  it("gives the same answer when every key's hash collides (the exact fallback)", () => {
    const { rows, summary } = latest(lines, new LatestByJob(() => 42));
    expect(rows.map((r) => [r.csvId, r.outcome]).sort()).toEqual(expected);
    expect(summary.jobs).toBe(4);
  });
});

describe("reading a run's result objects", () => {
  /** A bucket whose objects answer after uneven delays, counting the reads in flight. */
  function slowBucket(objects: Map<string, string>, failing?: string) {
    let inFlight = 0;
    let mostInFlight = 0;
    const source: ReportSource = {
      async *keys(prefix: string) {
        for (const key of [...objects.keys()].sort()) if (key.startsWith(prefix)) yield key;
      },
      async text(key: string) {
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        // Later objects answer sooner: a reader that emitted as they arrive would misorder.
        await new Promise((resolve) => setTimeout(resolve, 40 - (Number(key.slice(-2)) % 40)));
        inFlight -= 1;
        if (key === failing) throw new Error(`GetObject ${key}: AccessDenied`);
        return objects.get(key) ?? "";
      },
    };
    return { source, mostInFlight: () => mostInFlight };
  }

  const runObjects = (count: number) =>
    new Map(
      Array.from({ length: count }, (_, i) => [
        `runs/r/results/obj-${String(i).padStart(2, "0")}`,
        `${toJsonLine(line(`c${i}`, "deleted", i))}\n`,
      ]),
    );

  it("fetches several objects at once and still gives the rows in the objects' order", async () => {
    const bucket = slowBucket(runObjects(30));
    const rows: string[] = [];
    for await (const row of readRunReport("r", { bucket: bucket.source })) rows.push(row.csvId);
    expect(rows).toEqual(Array.from({ length: 30 }, (_, i) => `c${i}`));
    expect(bucket.mostInFlight()).toBe(REPORT_OBJECTS_AHEAD);
  });

  it("ends with the error of an object it cannot read, never skipping it", async () => {
    const bucket = slowBucket(runObjects(30), "runs/r/results/obj-17");
    const rows: string[] = [];
    await expect(async () => {
      for await (const row of readRunReport("r", { bucket: bucket.source })) rows.push(row.csvId);
    }).rejects.toThrow("GetObject runs/r/results/obj-17: AccessDenied");
    expect(rows).toEqual([]);
  });
});
