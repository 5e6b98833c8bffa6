import { setTimeout as sleep } from "node:timers/promises";
import { raceTimeout, sleepUnlessReleased } from "../deadline.ts";

/** HighLevel's rate-limit headers, as numbers; any of them may be missing. */
export interface RateLimitHeaders {
  max?: number;
  remaining?: number;
  intervalMs?: number;
  dailyLimit?: number;
  dailyRemaining?: number;
}

/** Reads HighLevel's `X-RateLimit-*` headers. Absent or non-numeric headers are left out. */
export function readRateLimitHeaders(headers: Headers): RateLimitHeaders {
  const read = (name: string) => {
    const raw = headers.get(name);
    if (raw === null || raw.trim() === "") return undefined;
    const value = Number(raw);
    return Number.isFinite(value) && value >= 0 ? value : undefined;
  };
  const result: RateLimitHeaders = {};
  const max = read("x-ratelimit-max");
  const remaining = read("x-ratelimit-remaining");
  const intervalMs = saneInterval(read("x-ratelimit-interval-milliseconds"));
  const dailyLimit = read("x-ratelimit-limit-daily");
  const dailyRemaining = read("x-ratelimit-daily-remaining");
  if (max !== undefined) result.max = max;
  if (remaining !== undefined) result.remaining = remaining;
  if (intervalMs !== undefined) result.intervalMs = intervalMs;
  if (dailyLimit !== undefined) result.dailyLimit = dailyLimit;
  if (dailyRemaining !== undefined) result.dailyRemaining = dailyRemaining;
  return result;
}

/**
 * How long a container's other calls for a budget nobody has answered for yet wait for the first
 * call's answer (its headers tell the real limit) before going on. Waiting costs a timer only.
 */
export const FIRST_ANSWER_WAIT_MS = 2_000;

/** HighLevel's documented burst limit (100 calls / 10 s): used until its headers say otherwise. */
export const DOCUMENTED_BURST = { max: 100, intervalMs: 10_000 } as const;

/** Windows HighLevel could mean: 100 ms to 10 min. Anything else is a broken or hostile header. */
export const INTERVAL_BOUNDS_MS = { min: 100, max: 10 * 60_000 } as const;
/** However short the window a 429 names, the location is held back at least this long. */
export const MIN_THROTTLE_HOLD_MS = 1_000;

function saneInterval(ms: number | undefined): number | undefined {
  if (ms === undefined) return undefined;
  return ms >= INTERVAL_BOUNDS_MS.min && ms <= INTERVAL_BOUNDS_MS.max ? ms : undefined;
}

export interface RatePacerOptions {
  /** Calls of the burst budget left unspent, so that workers sharing it stop before HighLevel does. */
  reserve?: number;
  /** Used until a response has told the real window. */
  defaultIntervalMs?: number;
  /** How long a location stays paused once its daily budget is gone (HighLevel does not say when it resets). */
  dailyPauseMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<unknown>;
}

/** What a budget can still serve of one location before a horizon, as far as one container knows. */
export interface BudgetCapacity {
  /** Calls it can make before the horizon. */
  calls: number;
  /** When the first of them could go (epoch ms). */
  from: number;
  /** The time between two of its calls, on average. */
  spacingMs: number;
}

export type Permit =
  | {
      granted: true;
      waitedMs: number;
      /** When the budget meant this call to go (epoch ms), if the budget schedules calls. */
      slotAt?: number;
    }
  | {
      granted: false;
      reason: "burst" | "daily";
      retryAfterMs: number;
    };

/**
 * What the HighLevel client needs from a rate budget: a permit before each call, and every
 * answer's rate headers after it. `RatePacer` keeps the budget in this container's memory;
 * `FleetBudget` shares it with every container through the coordination table.
 */
export interface Pacer {
  /**
   * Waits until a call may be made for `key`, reserving it. Gives up without waiting when the
   * wait would end after `deadline` or last longer than `maxWaitMs`, saying how long to stay
   * away; gives up waiting when `release` aborts (the caller has better use for its time).
   */
  acquire(
    key: string,
    deadline: number,
    maxWaitMs?: number,
    release?: AbortSignal,
  ): Promise<Permit>;
  observe(key: string, status: number, headers: RateLimitHeaders, sentAt: number): void;
  /**
   * A hint that this container is about to ask for `calls` permits for `locationId` (a batch's
   * jobs): a budget kept elsewhere may then book them in one request. Optional, and only a hint.
   */
  expect?(locationId: string, calls: number): void;
  /**
   * About how many calls for `locationId` the budget serves from now until `until` (epoch ms),
   * as far as this container knows; `undefined` when it knows nothing of the location yet.
   */
  capacity?(locationId: string, until: number): BudgetCapacity | undefined;
  /** Calls that had to wait for the budget, and how long they waited in all. */
  readonly waits: { count: number; totalMs: number };
}

interface RateBudget {
  max: number | undefined;
  intervalMs: number;
  /** Calls we believe are left in the current window, after our own reservations. */
  remaining: number | undefined;
  windowStartedAt: number;
  windowEndsAt: number;
  /** The window's end is still a guess made at rollover; the next answer fixes it. */
  anchorPending: boolean;
  blockedUntil: number;
  dailyBlockedUntil: number;
}

/**
 * Spends a location's burst budget without overdrawing it.
 *
 * HighLevel counts calls per app (or token) per location in a window of
 * `X-RateLimit-Interval-Milliseconds`. The pacer keeps, per budget key, what the last
 * answers said is left, reserves one call per request it lets through, and makes callers
 * wait for the window to turn over rather than spend the last `reserve` calls. A 429 pauses
 * the key for a full interval (at least 1 s); an empty daily budget pauses it for
 * `dailyPauseMs`. Intervals outside 100 ms – 10 min are ignored (the default window is kept).
 *
 * @example
 * const pacer = new RatePacer();
 * const permit = await pacer.acquire("loc1:ab12", deadline);
 * if (permit.granted) { const sentAt = Date.now(); const res = await fetch(...); pacer.observe("loc1:ab12", res.status, readRateLimitHeaders(res.headers), sentAt); }
 */
export class RatePacer implements Pacer {
  readonly #budgets = new Map<string, RateBudget>();
  /** Keys whose first call is out and unanswered: resolves when its answer is observed. */
  readonly #firstAnswers = new Map<string, { arrived: Promise<void>; arrive: () => void }>();
  readonly #reserve: number;
  readonly #defaultIntervalMs: number;
  readonly #dailyPauseMs: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<unknown>;
  /** Calls that had to wait for the budget, and how long they waited in all (for progress displays). */
  readonly waits = { count: 0, totalMs: 0 };

  constructor(options: RatePacerOptions = {}) {
    this.#reserve = options.reserve ?? 1;
    this.#defaultIntervalMs = options.defaultIntervalMs ?? DOCUMENTED_BURST.intervalMs;
    this.#dailyPauseMs = options.dailyPauseMs ?? 15 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? sleep;
  }

  async acquire(
    key: string,
    deadline: number,
    maxWaitMs = Number.POSITIVE_INFINITY,
    release?: AbortSignal,
  ): Promise<Permit> {
    const started = this.#now();
    const giveUpAfter = Math.min(deadline, started + maxWaitMs);
    let waitedForFirstAnswer = false;
    for (;;) {
      const now = this.#now();
      const budget = this.#budgets.get(key);
      if (!budget) {
        const first = this.#firstAnswers.get(key);
        if (first && !waitedForFirstAnswer) {
          // A new key (a location, or a refreshed token) gets a fresh budget at HighLevel: one
          // call goes first and the others wait a little for what its answer says.
          waitedForFirstAnswer = true;
          const wait = Math.min(giveUpAfter - now, FIRST_ANSWER_WAIT_MS);
          if (wait > 0) await raceTimeout(first.arrived, wait);
          continue;
        }
        if (!first) {
          let arrive = () => {};
          const arrived = new Promise<void>((resolve) => {
            arrive = resolve;
          });
          this.#firstAnswers.set(key, { arrived, arrive });
        }
        return { granted: true, waitedMs: now - started };
      }
      if (budget.dailyBlockedUntil > now) {
        return { granted: false, reason: "daily", retryAfterMs: budget.dailyBlockedUntil - now };
      }
      if (now >= budget.windowEndsAt && budget.max !== undefined) {
        // The window has turned over: assume a full budget until an answer says otherwise.
        budget.remaining = budget.max;
        budget.windowStartedAt = now;
        budget.windowEndsAt = now + budget.intervalMs;
        budget.anchorPending = true;
      }
      const waitUntil = Math.max(
        budget.blockedUntil,
        this.#hasRoom(budget) ? now : budget.windowEndsAt,
      );
      if (waitUntil <= now) {
        if (budget.remaining !== undefined) budget.remaining -= 1;
        if (now > started) {
          this.waits.count += 1;
          this.waits.totalMs += now - started;
        }
        return { granted: true, waitedMs: now - started };
      }
      if (waitUntil > giveUpAfter || release?.aborted) {
        return { granted: false, reason: "burst", retryAfterMs: waitUntil - now };
      }
      if (release) {
        await sleepUnlessReleased(waitUntil - now, release);
      } else {
        await this.#sleep(waitUntil - now);
      }
    }
  }

  observe(key: string, status: number, headers: RateLimitHeaders, sentAt: number): void {
    const now = this.#now();
    const intervalMs = saneInterval(headers.intervalMs);
    this.#firstAnswers.get(key)?.arrive();
    this.#firstAnswers.delete(key);
    let budget = this.#budgets.get(key);
    if (!budget) {
      const windowMs = intervalMs ?? this.#defaultIntervalMs;
      // HighLevel's window began somewhere between sending and this answer: assuming it began
      // now makes our window end no earlier than HighLevel's.
      budget = {
        max: headers.max,
        intervalMs: windowMs,
        remaining: headers.remaining,
        windowStartedAt: sentAt,
        windowEndsAt: now + windowMs,
        anchorPending: false,
        blockedUntil: 0,
        dailyBlockedUntil: 0,
      };
      this.#budgets.set(key, budget);
    } else {
      if (headers.max !== undefined) budget.max = headers.max;
      if (intervalMs !== undefined) budget.intervalMs = intervalMs;
      // An answer to a call made before the current window began describes the old window.
      if (headers.remaining !== undefined && sentAt >= budget.windowStartedAt) {
        budget.remaining = Math.min(budget.remaining ?? headers.remaining, headers.remaining);
        if (budget.anchorPending) {
          // The first answer of a new window: HighLevel's window began before now, not after.
          budget.windowEndsAt = now + budget.intervalMs;
          budget.anchorPending = false;
        }
      }
    }
    if (status === 429) {
      budget.remaining = 0;
      budget.blockedUntil = Math.max(
        budget.blockedUntil,
        now + Math.max(MIN_THROTTLE_HOLD_MS, budget.intervalMs),
      );
      budget.windowStartedAt = now;
      budget.windowEndsAt = now + budget.intervalMs;
      budget.anchorPending = false;
    }
    if (headers.dailyRemaining === 0) {
      budget.dailyBlockedUntil = now + this.#dailyPauseMs;
    }
  }

  capacity(locationId: string, until: number): BudgetCapacity | undefined {
    const now = this.#now();
    let total: BudgetCapacity | undefined;
    for (const [key, budget] of this.#budgets) {
      // A spent daily budget is the acquire's to report (the job is deferred, not handed back).
      if (!key.startsWith(`${locationId}:`) || budget.max === undefined) continue;
      if (budget.dailyBlockedUntil > now) return undefined;
      const perWindow = Math.max(1, budget.max - this.#reserve);
      const from = Math.max(now, budget.blockedUntil);
      const inThisWindow =
        from < budget.windowEndsAt
          ? Math.max(0, (budget.remaining ?? perWindow) - this.#reserve)
          : 0;
      const laterWindows =
        until > budget.windowEndsAt
          ? Math.ceil((until - Math.max(from, budget.windowEndsAt)) / budget.intervalMs) * perWindow
          : 0;
      const calls = until <= from ? 0 : inThisWindow + laterWindows;
      if (total === undefined || calls < total.calls) {
        total = { calls, from, spacingMs: budget.intervalMs / perWindow };
      }
    }
    return total;
  }

  /** How long `key` must stay away because its daily budget is gone (0 when it is not). */
  dailyPauseFor(key: string): number {
    const budget = this.#budgets.get(key);
    return budget ? Math.max(0, budget.dailyBlockedUntil - this.#now()) : 0;
  }

  #hasRoom(budget: RateBudget): boolean {
    // A reserve as large as the whole budget would block it for good: spend all of a tiny one.
    const reserve = budget.max !== undefined && budget.max <= this.#reserve ? 0 : this.#reserve;
    return budget.remaining === undefined || budget.remaining > reserve;
  }
}
