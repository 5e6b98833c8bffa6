import { describe, expect, it } from "vitest";
import type { ResultLine } from "../../functions/core/runs/result-line.ts";
import { LatestByJob } from "../../functions/core/runs/run-report.ts";

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
