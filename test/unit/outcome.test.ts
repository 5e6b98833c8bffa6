import { describe, expect, it } from "vitest";
import {
  classifyStatus,
  decideDisposition,
  type Verdict,
} from "../../functions/core/worker/outcome.ts";

const firstDelivery = { receiveCount: 1, maxReceiveCount: 5, deferrals: 0, maxDeferrals: 100 };

describe("classifyStatus", () => {
  it.each([
    [200, "deleted"],
    [204, "deleted"],
    [404, "already-absent"],
    [400, "rejected"],
    [409, "rejected"],
    [422, "rejected"],
    [401, "unauthorized"],
    [403, "unauthorized"],
    [429, "throttled"],
    [408, "transient"],
    [500, "transient"],
    [503, "transient"],
  ] as const)("classifies %i as %s", (status, expected) => {
    expect(classifyStatus(status)).toBe(expected);
  });
});

describe("decideDisposition", () => {
  it("removes deleted and already-absent jobs", () => {
    expect(decideDisposition({ kind: "deleted", attempts: 1 }, firstDelivery)).toEqual({
      action: "remove",
      outcome: "deleted",
    });
    expect(decideDisposition({ kind: "already-absent", attempts: 2 }, firstDelivery)).toEqual({
      action: "remove",
      outcome: "already-absent",
    });
  });

  it("dead-letters rejected jobs with HighLevel's status and message", () => {
    const verdict: Verdict = {
      kind: "rejected",
      status: 422,
      detail: "Unprocessable Entity",
      attempts: 2,
    };
    expect(decideDisposition(verdict, firstDelivery)).toEqual({
      action: "dead-letter",
      reason: "rejected",
      status: 422,
      detail: "Unprocessable Entity",
      attempts: 2,
    });
  });

  it("redelivers transient failures while receives remain, then dead-letters them as exhausted", () => {
    const verdict: Verdict = { kind: "transient", status: 503, detail: "HTTP 503", attempts: 3 };
    expect(decideDisposition(verdict, { ...firstDelivery, receiveCount: 4 }).action).toBe(
      "redeliver",
    );
    expect(decideDisposition(verdict, { ...firstDelivery, receiveCount: 5 })).toEqual({
      action: "dead-letter",
      reason: "exhausted",
      status: 503,
      detail: "HTTP 503",
      attempts: 3,
    });
  });

  it("never dead-letters as exhausted a job no call reached in its last delivery: it is deferred", () => {
    // Receives spent on hand-backs and on invocations that ran out of time are not tries.
    const untried: Verdict = {
      kind: "transient",
      detail: "no time left in this invocation",
      attempts: 0,
    };
    expect(decideDisposition(untried, { ...firstDelivery, receiveCount: 4 }).action).toBe(
      "redeliver",
    );
    expect(decideDisposition(untried, { ...firstDelivery, receiveCount: 5, deferrals: 2 })).toEqual(
      { action: "defer", delaySeconds: 1, deferrals: 3 },
    );
    // Bounded like every deferral: MAX_DEFERRALS of them, then the DLQ as exhausted.
    expect(
      decideDisposition(untried, { ...firstDelivery, receiveCount: 5, deferrals: 100 }),
    ).toMatchObject({ action: "dead-letter", reason: "exhausted", attempts: 0 });
  });

  it("defers, backing off, a job whose last delivery ran out of time before its tries were done", () => {
    const cutShort: Verdict = {
      kind: "transient",
      detail: "HTTP 503",
      attempts: 1,
      outOfTime: true,
    };
    const last = { ...firstDelivery, receiveCount: 5 };
    expect(decideDisposition(cutShort, { ...last, deferrals: 0 })).toEqual({
      action: "defer",
      delaySeconds: 1,
      deferrals: 1,
    });
    expect(decideDisposition(cutShort, { ...last, deferrals: 3 })).toEqual({
      action: "defer",
      delaySeconds: 8,
      deferrals: 4,
    });
    // Five such deferrals at most (or MAX_DEFERRALS if lower): a HighLevel that hangs still
    // fills the DLQ within minutes.
    expect(decideDisposition(cutShort, { ...last, deferrals: 5 })).toMatchObject({
      action: "dead-letter",
      reason: "exhausted",
      attempts: 1,
    });
    expect(decideDisposition(cutShort, { ...last, deferrals: 1, maxDeferrals: 1 })).toMatchObject({
      action: "dead-letter",
      reason: "exhausted",
    });
    // Tries that all ran (HIGHLEVEL_MAX_ATTEMPTS reached) are exhausted on the last receive.
    const { outOfTime: _, ...allTried } = cutShort;
    expect(decideDisposition(allTried, last)).toMatchObject({
      action: "dead-letter",
      reason: "exhausted",
    });
  });

  it("hands back a job waiting for its location's budget until just before its turn, and defers it on its last", () => {
    const waiting: Verdict = {
      kind: "throttled",
      budgetWait: true,
      retryAfterMs: 1_200,
      detail: "budget booked",
      attempts: 0,
    };
    expect(decideDisposition(waiting, firstDelivery)).toEqual({
      action: "hand-back",
      visibilitySeconds: 1,
    });
    expect(
      decideDisposition({ ...waiting, retryAfterMs: 7_900 }, { ...firstDelivery, receiveCount: 3 }),
    ).toEqual({ action: "hand-back", visibilitySeconds: 7 });
    // Never "exhausted": from its second-to-last receive on it goes back to the queue as a
    // deferral (a fresh message), keeping two receives for real tries.
    expect(decideDisposition(waiting, { ...firstDelivery, receiveCount: 4 })).toMatchObject({
      action: "defer",
    });
    expect(decideDisposition(waiting, { ...firstDelivery, receiveCount: 5 })).toEqual({
      action: "defer",
      delaySeconds: 2,
      deferrals: 1,
    });
  });

  it("defers throttled jobs with a delay capped at 900 s, counting deferrals", () => {
    const verdict: Verdict = {
      kind: "throttled",
      retryAfterMs: 1_500,
      detail: "burst",
      attempts: 1,
    };
    expect(decideDisposition(verdict, { ...firstDelivery, deferrals: 2 })).toEqual({
      action: "defer",
      delaySeconds: 2,
      deferrals: 3,
    });
    const daily: Verdict = {
      kind: "throttled",
      retryAfterMs: 3_600_000,
      detail: "daily",
      attempts: 0,
    };
    expect(decideDisposition(daily, firstDelivery)).toMatchObject({ delaySeconds: 900 });
  });

  it("dead-letters a throttled job once it has been deferred MAX_DEFERRALS times", () => {
    const verdict: Verdict = {
      kind: "throttled",
      retryAfterMs: 1_000,
      detail: "burst",
      attempts: 1,
    };
    expect(decideDisposition(verdict, { ...firstDelivery, deferrals: 100 })).toMatchObject({
      action: "dead-letter",
      reason: "throttled",
    });
  });

  it("dead-letters invalid jobs with zero attempts", () => {
    expect(
      decideDisposition({ kind: "invalid-job", detail: "body is not valid JSON" }, firstDelivery),
    ).toEqual({
      action: "dead-letter",
      reason: "invalid-job",
      detail: "body is not valid JSON",
      attempts: 0,
    });
  });
});
