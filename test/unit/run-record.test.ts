import { describe, expect, it } from "vitest";
import { emptyCounts, type RunRecord, runState } from "../../functions/core/runs/run-record.ts";

const record = (over: Partial<RunRecord>): RunRecord => ({
  runId: "r",
  source: "enqueue",
  createdAt: "2026-12-02T00:00:00.000Z",
  enqueuing: false,
  counts: emptyCounts(),
  ...over,
});

describe("a run's state", () => {
  it("is enqueuing until the producer writes the total, then running, then finished", () => {
    expect(runState(record({ enqueuing: true }))).toBe("enqueuing");
    expect(runState(record({ enqueuing: true, total: 3 }))).toBe("enqueuing");
    const counts = { ...emptyCounts(), deleted: 2 };
    expect(runState(record({ total: 3, counts }))).toBe("running");
    expect(runState(record({ total: 2, counts }))).toBe("finished");
    const dead = { ...counts, deadLettered: 1, deadLetteredByReason: { rejected: 1 } };
    expect(runState(record({ total: 3, counts: dead }))).toBe("finished with dead letters");
  });

  it("stays open for event days, unlabelled jobs, and a run no producer opened", () => {
    expect(runState(record({ source: "events" }))).toBe("open");
    expect(runState(record({ source: "unlabelled" }))).toBe("open");
    // An EventBridge event that named its own run: the worker made the record, nobody will
    // write a total, so it can never become "finished".
    expect(runState(record({ source: "offboarding" }))).toBe("open");
  });
});
