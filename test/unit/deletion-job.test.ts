import { describe, expect, it } from "vitest";
import { jobKey, parseDeletionJob } from "../../functions/core/producers/deletion-job.ts";
import { INVALID_BODIES } from "../helpers/invalid-bodies.ts";

describe("parseDeletionJob", () => {
  it("accepts a job with optional fields and drops unknown ones", () => {
    const result = parseDeletionJob(
      JSON.stringify({
        locationId: "ve9EPM428h8vShlRW1KT",
        csvId: "65f92e55cc884f0d0845e447",
        reason: "retention",
        correlationId: "c-1",
        extra: { ignored: true },
      }),
    );
    expect(result).toEqual({
      ok: true,
      job: {
        locationId: "ve9EPM428h8vShlRW1KT",
        csvId: "65f92e55cc884f0d0845e447",
        reason: "retention",
        correlationId: "c-1",
      },
    });
  });

  it("accepts ids of exactly 64 characters with '_' and '-'", () => {
    const id = `${"a".repeat(62)}_-`;
    expect(parseDeletionJob(JSON.stringify({ locationId: id, csvId: id })).ok).toBe(true);
  });

  it.each(INVALID_BODIES)("rejects $name, naming what is wrong", ({ body, error }) => {
    const result = parseDeletionJob(body);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(error);
  });

  it("has a corpus of at least 25 bad bodies", () => {
    expect(INVALID_BODIES.length).toBeGreaterThanOrEqual(25);
  });

  it("keys jobs by location and upload", () => {
    expect(jobKey({ locationId: "l1", csvId: "c1" })).toBe("l1/c1");
  });
});
