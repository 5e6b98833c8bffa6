import type { SandboxOptions, ScriptedAnswer } from "./sandbox-types.ts";

const UNLIMITED_BURST = { max: 1_000_000, intervalMs: 10_000 };
const UNLIMITED_DAILY = { max: 1_000_000_000 };

/**
 * HighLevel's limits as the sandbox plays them: a fixed burst window per token and location,
 * from its first call, and a daily budget; every answer carries the `X-RateLimit-*` headers.
 */
export class RateWindows {
  readonly #options: () => Pick<SandboxOptions, "burst" | "daily">;
  readonly #windows = new Map<string, { startedAt: number; used: number; dailyUsed: number }>();

  constructor(options: () => Pick<SandboxOptions, "burst" | "daily">) {
    this.#options = options;
  }

  clear(): void {
    this.#windows.clear();
  }

  spend(key: string): { limited: boolean; headers: Record<string, string> } {
    const burst = this.#options().burst ?? UNLIMITED_BURST;
    const daily = this.#options().daily ?? UNLIMITED_DAILY;
    const now = Date.now();
    let window = this.#windows.get(key);
    if (!window) {
      window = { startedAt: now, used: 0, dailyUsed: 0 };
      this.#windows.set(key, window);
    }
    if (now - window.startedAt >= burst.intervalMs) {
      window.startedAt = now;
      window.used = 0;
    }
    const limited = window.used >= burst.max || window.dailyUsed >= daily.max;
    if (!limited) {
      window.used += 1;
      window.dailyUsed += 1;
    }
    return {
      limited,
      headers: {
        "X-RateLimit-Max": String(burst.max),
        "X-RateLimit-Remaining": String(Math.max(0, burst.max - window.used)),
        "X-RateLimit-Interval-Milliseconds": String(burst.intervalMs),
        "X-RateLimit-Limit-Daily": String(daily.max),
        "X-RateLimit-Daily-Remaining": String(Math.max(0, daily.max - window.dailyUsed)),
      },
    };
  }
}

/** Injected faults (5xx, resets, slow answers), drawn from a seeded generator so runs repeat. */
export class FaultDice {
  readonly random: () => number;
  readonly #faults: () => SandboxOptions["faults"];

  constructor(seed: number, faults: () => SandboxOptions["faults"]) {
    this.random = mulberry32(seed);
    this.#faults = faults;
  }

  roll(): ScriptedAnswer | undefined {
    const faults = this.#faults();
    if (!faults) return undefined;
    const roll = this.random();
    const serverError = faults.serverErrorRate ?? 0;
    const reset = faults.resetRate ?? 0;
    const slow = faults.slowRate ?? 0;
    if (roll < serverError) return this.random() < 0.5 ? 500 : 503;
    if (roll < serverError + reset) return "reset";
    if (roll < serverError + reset + slow) return "slow";
    return undefined;
  }
}

/** A small seeded PRNG so that fault injection repeats run to run. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
