import { describe, expect, it } from "vitest";
import { clip, MAX_DETAIL_BYTES, redact } from "../../functions/core/detail.ts";

describe("clip", () => {
  it("keeps short text as it is", () => {
    expect(clip("HighLevel said no")).toBe("HighLevel said no");
  });

  it("cuts by UTF-8 bytes, not characters, and marks the cut", () => {
    const cut = clip("é".repeat(2_000));
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(MAX_DETAIL_BYTES);
    expect(cut.endsWith("…")).toBe(true);
    expect(cut).not.toContain("\uFFFD");
  });

  it("costs no more than the head of a 50 MB message", () => {
    const cut = clip("m".repeat(50 * 1024 * 1024));
    expect(cut).toHaveLength(MAX_DETAIL_BYTES - 2);
  });
});

describe("redact", () => {
  it("replaces every occurrence of the secret", () => {
    expect(redact("a tok b tok", "tok")).toBe("a [redacted] b [redacted]");
  });

  it("replaces each of several secrets, and ignores an empty one", () => {
    expect(redact("client s3cr3t, bearer t0k, t0k again", "s3cr3t", "", "t0k")).toBe(
      "client [redacted], bearer [redacted], [redacted] again",
    );
  });
});
