import { afterEach, describe, expect, it, vi } from "vitest";
import { parseDeletionJob } from "../../functions/core/producers/deletion-job.ts";
import { planBatch } from "../../functions/core/worker/batch-plan.ts";
import { TailRelease } from "../../functions/core/worker/tail-release.ts";

const jobs = (...pairs: Array<[string, string]>) =>
  pairs.map(([locationId, csvId]) => parseDeletionJob(JSON.stringify({ locationId, csvId })));

describe("planBatch", () => {
  it("keeps every job of a location whose budget cannot tell its capacity", () => {
    const plan = planBatch(jobs(["a", "1"], ["a", "2"], ["b", "3"]), () => undefined);
    expect([...plan.calls]).toEqual([
      ["a", 2],
      ["b", 1],
    ]);
    expect(plan.surplus.size).toBe(0);
  });

  it("keeps the first jobs of a location, in batch order, up to its capacity; the rest are surplus", () => {
    const plan = planBatch(
      jobs(["hot", "1"], ["cold", "9"], ["hot", "2"], ["hot", "3"], ["hot", "4"]),
      (locationId) =>
        locationId === "hot"
          ? { calls: 2, from: 10_000, spacingMs: 100 }
          : { calls: 5, from: 10_000, spacingMs: 100 },
    );
    expect(plan.calls.get("hot")).toBe(2);
    expect(plan.calls.get("cold")).toBe(1);
    // Each comes back when its turn would come: after the two kept, a spacing apart.
    expect([...plan.surplus]).toEqual([
      ["hot/3", 10_200],
      ["hot/4", 10_300],
    ]);
  });

  it("counts copies of one job once and leaves invalid bodies out", () => {
    const plan = planBatch(
      [...jobs(["a", "1"], ["a", "1"], ["a", "2"]), parseDeletionJob("not json")],
      () => ({ calls: 1, from: 0, spacingMs: 50 }),
    );
    expect(plan.calls.get("a")).toBe(1);
    expect([...plan.surplus.keys()]).toEqual(["a/2"]);
  });

  it("hands back every job of a location booked past the horizon (capacity 0)", () => {
    const plan = planBatch(jobs(["a", "1"], ["a", "2"]), () => ({
      calls: 0,
      from: 5_000,
      spacingMs: 100,
    }));
    expect(plan.calls.get("a")).toBe(0);
    expect(plan.surplus.size).toBe(2);
  });
});

describe("TailRelease", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("releases the jobs still waiting for slots once the rest of the batch has settled", () => {
    vi.useFakeTimers();
    const tail = new TailRelease(500);
    tail.started();
    tail.started();
    tail.slotWait(true);
    tail.settled(); // the other job is done; only the waiting one is open
    vi.advanceTimersByTime(499);
    expect(tail.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(tail.signal.aborted).toBe(true);
  });

  it("does not release a batch that has settled nothing yet, nor while a job is under way", () => {
    vi.useFakeTimers();
    const tail = new TailRelease(500);
    tail.started();
    tail.slotWait(true);
    vi.advanceTimersByTime(5_000);
    expect(tail.signal.aborted).toBe(false); // nothing settled: waiting is all there is to do

    tail.started();
    tail.settled(); // one settled; one open job, waiting
    vi.advanceTimersByTime(400);
    tail.slotWait(false); // its slot came: under way again, the timer stops
    vi.advanceTimersByTime(5_000);
    expect(tail.signal.aborted).toBe(false);
  });
});
