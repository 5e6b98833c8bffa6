import { describe, expect, it } from "vitest";
import { RatePacer, readRateLimitHeaders } from "../../functions/core/highlevel/rate-pacer.ts";

/** A pacer on a manual clock: sleeping advances the clock, so waits are measured exactly. */
function pacerOnClock(options: { reserve?: number } = {}) {
  let now = 1_000_000;
  const slept: number[] = [];
  const pacer = new RatePacer({
    ...options,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  });
  return { pacer, slept, clock: () => now, advance: (ms: number) => (now += ms) };
}

const headers = (remaining: number, max = 10, intervalMs = 2_000, dailyRemaining = 1_000) => ({
  max,
  remaining,
  intervalMs,
  dailyRemaining,
});

describe("RatePacer", () => {
  it("lets the first call through before anything is known", async () => {
    const { pacer } = pacerOnClock();
    expect(await pacer.acquire("loc", Number.POSITIVE_INFINITY)).toEqual({
      granted: true,
      waitedMs: 0,
    });
  });

  it("spends the budget down to the reserve, then waits for the window to turn over", async () => {
    const { pacer, slept, clock } = pacerOnClock({ reserve: 1 });
    const start = clock();
    pacer.observe("loc", 200, headers(9), start);
    const grants: number[] = [];
    for (let i = 0; i < 9; i++) {
      const permit = await pacer.acquire("loc", Number.POSITIVE_INFINITY);
      expect(permit.granted).toBe(true);
      grants.push(clock() - start);
    }
    // 9 left, reserve 1: 8 at once, the 9th after the 2 s window.
    expect(grants.slice(0, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(grants[8]).toBe(2_000);
    expect(slept).toEqual([2_000]);
    expect(pacer.waits).toEqual({ count: 1, totalMs: 2_000 });
  });

  it("takes the lower of its own count and what HighLevel says (other workers share the budget)", async () => {
    const { pacer, clock } = pacerOnClock({ reserve: 0 });
    pacer.observe("loc", 200, headers(9), clock());
    pacer.observe("loc", 200, headers(0), clock());
    const permit = await pacer.acquire("loc", clock() + 100);
    expect(permit).toMatchObject({ granted: false, reason: "burst" });
  });

  it("holds a location back for the interval after a 429", async () => {
    const { pacer, clock } = pacerOnClock();
    const start = clock();
    pacer.observe("loc", 429, headers(0, 100, 1_000), start);
    await pacer.acquire("loc", Number.POSITIVE_INFINITY);
    expect(clock() - start).toBeGreaterThanOrEqual(1_000);
  });

  it("gives up instead of waiting past the deadline, saying how long to stay away", async () => {
    const { pacer, clock, slept } = pacerOnClock();
    pacer.observe("loc", 429, headers(0, 100, 5_000), clock());
    const permit = await pacer.acquire("loc", clock() + 1_000);
    expect(permit).toEqual({ granted: false, reason: "burst", retryAfterMs: 5_000 });
    expect(slept).toEqual([]);
  });

  it("keeps budgets apart per key", async () => {
    const { pacer, clock } = pacerOnClock();
    pacer.observe("loc-a", 429, headers(0), clock());
    expect((await pacer.acquire("loc-b", clock())).granted).toBe(true);
  });

  it("pauses a location whose daily budget is gone", async () => {
    const { pacer, clock } = pacerOnClock();
    pacer.observe("loc", 200, headers(50, 100, 10_000, 0), clock());
    const permit = await pacer.acquire("loc", clock() + 60_000);
    expect(permit).toMatchObject({ granted: false, reason: "daily" });
    expect(pacer.dailyPauseFor("loc")).toBe(15 * 60_000);
  });

  it("ignores remaining counts from calls sent before the current window began", async () => {
    const { pacer, clock, advance } = pacerOnClock({ reserve: 0 });
    const oldSend = clock();
    pacer.observe("loc", 200, headers(5), oldSend);
    advance(2_500); // window turned over
    await pacer.acquire("loc", Number.POSITIVE_INFINITY); // starts the new window
    pacer.observe("loc", 200, headers(0), oldSend); // a late answer from the old window
    expect((await pacer.acquire("loc", clock())).granted).toBe(true);
  });
});

describe("RatePacer against absurd headers", () => {
  it("holds a location back at least 1 s after a 429, however short the interval it names", async () => {
    const { pacer, slept } = pacerOnClock();
    pacer.observe("loc", 200, headers(50, 100, 2_000), 1_000_000);
    pacer.observe("loc", 429, { intervalMs: 150 }, 1_000_000);
    await pacer.acquire("loc", Number.POSITIVE_INFINITY);
    expect(slept.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1_000);
  });

  it("ignores intervals outside 100 ms – 10 min and keeps the window it knew", async () => {
    const { pacer, slept } = pacerOnClock();
    pacer.observe("loc", 200, headers(50, 100, 2_000), 1_000_000);
    pacer.observe("loc", 429, { intervalMs: 999_999_999 }, 1_000_000);
    await pacer.acquire("loc", Number.POSITIVE_INFINITY);
    expect(slept.reduce((a, b) => a + b, 0)).toBe(2_000);
  });

  it("never lets a reserve block a budget no larger than it", async () => {
    const { pacer, clock } = pacerOnClock({ reserve: 1 });
    pacer.observe("loc", 200, { max: 1, remaining: 0, intervalMs: 200 }, clock());
    const permit = await pacer.acquire("loc", clock() + 1_000);
    expect(permit.granted).toBe(true);
  });
});

describe("readRateLimitHeaders: intervals", () => {
  it.each(["1", "0.001", "99", "600001", "999999999"])("drops an interval of %s ms", (value) => {
    expect(
      readRateLimitHeaders(new Headers({ "x-ratelimit-interval-milliseconds": value })).intervalMs,
    ).toBeUndefined();
  });
  it.each(["100", "10000", "600000"])("keeps an interval of %s ms", (value) => {
    expect(
      readRateLimitHeaders(new Headers({ "x-ratelimit-interval-milliseconds": value })).intervalMs,
    ).toBe(Number(value));
  });
});

describe("readRateLimitHeaders", () => {
  it("reads HighLevel's headers and skips malformed ones", () => {
    const parsed = readRateLimitHeaders(
      new Headers({
        "X-RateLimit-Max": "100",
        "X-RateLimit-Remaining": "42",
        "X-RateLimit-Interval-Milliseconds": "10000",
        "X-RateLimit-Limit-Daily": "200000",
        "X-RateLimit-Daily-Remaining": "n/a",
      }),
    );
    expect(parsed).toEqual({ max: 100, remaining: 42, intervalMs: 10_000, dailyLimit: 200_000 });
  });
});
