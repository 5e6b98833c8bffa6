import { describe, expect, it } from "vitest";
import {
  failureAttributes,
  MAX_FAILURE_DETAIL_BYTES,
} from "../../functions/core/worker/dead-letter.ts";

const at = new Date("2026-11-27T10:00:00.000Z");

describe("failureAttributes", () => {
  it("carries the reason, status, detail, attempts, time and source message", () => {
    const attributes = failureAttributes(
      { reason: "rejected", status: 422, detail: "Unprocessable Entity", attempts: 2 },
      "m-1",
      at,
    );
    expect(attributes).toEqual({
      "failure-reason": { DataType: "String", StringValue: "rejected" },
      "failure-status": { DataType: "Number", StringValue: "422" },
      "failure-detail": { DataType: "String", StringValue: "Unprocessable Entity" },
      "failure-attempts": { DataType: "Number", StringValue: "2" },
      "failed-at": { DataType: "String", StringValue: "2026-11-27T10:00:00.000Z" },
      "source-message-id": { DataType: "String", StringValue: "m-1" },
    });
  });

  it("omits failure-status when there was no HTTP answer", () => {
    const attributes = failureAttributes(
      { reason: "invalid-job", detail: "x", attempts: 0 },
      "m",
      at,
    );
    expect(attributes["failure-status"]).toBeUndefined();
  });

  it("cuts the detail to 1 KiB, counting bytes, not characters", () => {
    const attributes = failureAttributes(
      { reason: "rejected", status: 400, detail: "é".repeat(2_000), attempts: 1 },
      "m",
      at,
    );
    const detail = attributes["failure-detail"]?.StringValue ?? "";
    expect(Buffer.byteLength(detail)).toBeLessThanOrEqual(MAX_FAILURE_DETAIL_BYTES);
    expect(detail.endsWith("…")).toBe(true);
  });

  it("replaces characters SQS refuses and redacts what it is told to", () => {
    const attributes = failureAttributes(
      { reason: "rejected", status: 400, detail: "bad\u0000token tok-9", attempts: 1 },
      "m",
      at,
      (text) => text.replaceAll("tok-9", "[redacted]"),
    );
    expect(attributes["failure-detail"]?.StringValue).toBe("bad?token [redacted]");
  });
});
