import { describe, expect, it } from "vitest";
import type { IndexedJob } from "../../functions/core/producers/deletion-job.ts";
import { interleaveByLocation } from "../../functions/core/producers/interleave.ts";

const sorted = (locations: number, each: number): IndexedJob[] =>
  Array.from({ length: locations * each }, (_, index) => ({
    index,
    job: { locationId: `loc${Math.floor(index / each)}`, csvId: `csv${index}` },
  }));

async function collect(jobs: AsyncIterable<IndexedJob>): Promise<IndexedJob[]> {
  const out: IndexedJob[] = [];
  for await (const job of jobs) out.push(job);
  return out;
}

describe("interleaveByLocation", () => {
  it("mixes a sorted export round-robin and keeps every job exactly once", async () => {
    const input = sorted(4, 25);
    const out = await collect(interleaveByLocation(input, 1_000));
    expect(out.map((j) => j.index).sort((a, b) => a - b)).toEqual(input.map((j) => j.index));
    expect(out.slice(0, 4).map((j) => j.job.locationId)).toEqual(["loc0", "loc1", "loc2", "loc3"]);
  });

  it("spreads a large location's jobs through the whole mix, in proportion to its size", async () => {
    // An agency: one sub-account with 300 jobs, thirty with 5 each, sorted by location.
    const input: IndexedJob[] = [
      ...Array.from({ length: 300 }, (_, n) => ({ locationId: "big", n })),
      ...Array.from({ length: 150 }, (_, n) => ({ locationId: `small${Math.floor(n / 5)}`, n })),
    ].map(({ locationId }, index) => ({ index, job: { locationId, csvId: `csv${index}` } }));
    const out = await collect(interleaveByLocation(input, 1_000));
    expect(out).toHaveLength(450);
    // Each fifth of the queue holds about a fifth of the large location's jobs (60), not 6.
    for (let fifth = 0; fifth < 5; fifth++) {
      const part = out.slice(fifth * 90, (fifth + 1) * 90);
      const big = part.filter((j) => j.job.locationId === "big").length;
      expect(big).toBeGreaterThanOrEqual(50);
      expect(big).toBeLessThanOrEqual(70);
    }
  });

  it("keeps each location's own order", async () => {
    const out = await collect(interleaveByLocation(sorted(3, 10), 1_000));
    const loc1 = out.filter((j) => j.job.locationId === "loc1").map((j) => j.index);
    expect(loc1).toEqual([...loc1].sort((a, b) => a - b));
  });

  it("holds no more than its buffer: a long run of one location comes out as it goes", async () => {
    let produced = 0;
    let mostAhead = 0;
    async function* source() {
      for (const job of sorted(1, 5_000)) {
        produced += 1;
        yield job;
      }
    }
    let consumed = 0;
    for await (const _ of interleaveByLocation(source(), 100)) {
      consumed += 1;
      mostAhead = Math.max(mostAhead, produced - consumed);
    }
    expect(consumed).toBe(5_000);
    expect(mostAhead).toBeLessThanOrEqual(100);
  });
});
