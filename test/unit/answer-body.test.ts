import { describe, expect, it } from "vitest";
import {
  MAX_ANSWER_BYTES,
  parseAnswerBody,
  readAnswerBody,
} from "../../functions/core/highlevel/answer-body.ts";
import { bodyConfirmsSuccess, readCsvStatus } from "../../functions/core/highlevel/csv-answer.ts";

/** A response whose body arrives as the given chunks, then stalls forever when `stall` is set. */
function responseOf(chunks: string[], stall = false): Response {
  const encoder = new TextEncoder();
  let index = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[index++];
      if (chunk !== undefined) controller.enqueue(encoder.encode(chunk));
      else if (!stall) controller.close();
      else return new Promise(() => {});
    },
  });
  return new Response(body);
}

describe("readAnswerBody", () => {
  it("reads a whole small body", async () => {
    const body = await readAnswerBody(responseOf(['{"a":', "1}"]), Date.now() + 1_000);
    expect(body).toEqual({ text: '{"a":1}', state: "complete" });
    expect(parseAnswerBody(body)).toEqual({ a: 1 });
  });

  it("stops at the cap and says the answer was too large", async () => {
    const big = "x".repeat(40 * 1024);
    const body = await readAnswerBody(responseOf([big, big, big]), Date.now() + 1_000);
    expect(body.state).toBe("too-large");
    expect(body.text).toHaveLength(MAX_ANSWER_BYTES);
    expect(parseAnswerBody(body)).toBe(body.text);
  });

  it("gives up on a stalled body at the deadline", async () => {
    const started = Date.now();
    const body = await readAnswerBody(responseOf(['{"message":"par'], true), Date.now() + 200);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(body).toEqual({ text: '{"message":"par', state: "timed-out" });
  });

  it("keeps multi-byte characters split across chunks whole", async () => {
    const bytes = new TextEncoder().encode("é");
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.subarray(0, 1));
        controller.enqueue(bytes.subarray(1));
        controller.close();
      },
    });
    expect((await readAnswerBody(new Response(stream), Date.now() + 1_000)).text).toBe("é");
  });
});

describe("bodyConfirmsSuccess", () => {
  it.each([
    [undefined, true],
    [{ success: true, results: {} }, true],
    [{ statusCode: 200 }, true],
    [{ success: false }, false],
    [{ statusCode: 400, message: "bad" }, false],
    ["<html>Sign in</html>", false],
  ])("%j → %s", (body, expected) => {
    expect(bodyConfirmsSuccess(body)).toBe(expected);
  });
});

describe("readCsvStatus", () => {
  it("reads the status of an object or a one-element list", () => {
    expect(readCsvStatus({ results: { csv: { status: "deleted" } } })).toBe("deleted");
    expect(readCsvStatus({ results: { csv: [{ status: "completed" }] } })).toBe("completed");
    expect(readCsvStatus("<html>")).toBeUndefined();
  });
});
