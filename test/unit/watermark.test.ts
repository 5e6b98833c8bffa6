import { describe, expect, it } from "vitest";
import { Watermark } from "../../functions/core/producers/watermark.ts";

describe("Watermark", () => {
  it("advances only over a contiguous run of finished jobs, whatever order they finish in", () => {
    const watermark = new Watermark(10);
    watermark.mark(12);
    watermark.mark(11);
    expect(watermark.value).toBe(10);
    watermark.mark(10);
    expect(watermark.value).toBe(13);
    watermark.mark(15);
    expect(watermark.value).toBe(13);
  });
});
