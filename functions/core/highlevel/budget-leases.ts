import { DOCUMENTED_BURST, type RateLimitHeaders } from "./rate-pacer.ts";
import type { KnownBudget } from "./slot-booking.ts";

/**
 * How many slots one write books for the calls this container expects (`expect`): about a
 * second of the budget, at least ten and at most a hundred.
 */
export const SLOTS_PER_TAKE = { spanMs: 1_000, min: 10, max: 100 } as const;
/**
 * An uncontested budget is leased: one write books this much of it (at most `SLOTS_PER_TAKE.max`
 * slots) and the container spends the slots over its next batches without asking the table.
 * Long enough that a location worked by one container costs a write every few batches; short
 * enough that a container arriving later waits at most this long before the fleet books the
 * budget batch by batch again.
 */
export const LEASE_MS = 3_000;
/**
 * A budget this container alone has been booking is booked this far past a batch's last call,
 * in the batch's last write: its next batch's first calls go on slots it already holds instead
 * of waiting for a write at its start. Between two batches a container makes no calls (the
 * results write, Lambda's poller, then that write and its lead: ~150 ms a cycle at 20 ms
 * answers, of which the write was ~45 ms); the slots in that gap go unused either way.
 */
export const BRIDGE_MS = 250;
/** A budget with less than this share of its window left (`X-RateLimit-Remaining`) is not leased. */
const FAR_FROM_SPENT = 0.5;
/** How long contention or a 429 keeps a budget booked batch by batch. */
const STRICT_HOLD_MS = 30_000;

/**
 * How many slots the next write books for `expectedCalls` calls: a lease when the budget is
 * leasable, else the batch's calls (up to about a second of the budget); and, when those are the
 * batch's last and nobody else has booked the budget for a window, how many more bridge to its
 * next batch (`BRIDGE_MS`; booked only if the write finds the budget where this container left
 * it). The table's conditional write books them either way, so the fleet-wide bound holds
 * whatever this says.
 */
export function slotsToBook(
  known: KnownBudget,
  expectedCalls: number,
  now = Date.now(),
): { slots: number; bridge: number } {
  const slotsIn = (spanMs: number) =>
    Math.min(SLOTS_PER_TAKE.max, Math.floor(spanMs / known.spacingMs));
  if (leasable(known, now)) {
    // Nobody else is spending this budget: lease what this container has been spending of it
    // (a quarter more) for the batches to come, never more than the budget gives.
    const recent = known.grantedAt.filter((at) => now - at <= known.windowMs).length;
    const demand = Math.ceil(((recent * LEASE_MS) / known.windowMs) * 1.25);
    return {
      slots: Math.max(1, Math.min(slotsIn(LEASE_MS), Math.max(expectedCalls, demand))),
      bridge: 0,
    };
  }
  const perTake = Math.max(SLOTS_PER_TAKE.min, slotsIn(SLOTS_PER_TAKE.spanMs));
  const slots = Math.max(1, Math.min(perTake, expectedCalls));
  const last = expectedCalls <= perTake;
  const bridge =
    last && uncontested(known, now)
      ? Math.min(SLOTS_PER_TAKE.max - slots, Math.ceil(BRIDGE_MS / known.spacingMs))
      : 0;
  return { slots, bridge };
}

/** Every booking for a whole window found nobody else booking, and no 429 came since. */
function uncontested(known: KnownBudget, now: number): boolean {
  return (
    known.tableSpacingMs !== undefined &&
    known.uncontestedSince !== undefined &&
    now - known.uncontestedSince >= known.windowMs
  );
}

/**
 * A budget is leased once its limit is known, every booking for a whole window found it
 * uncontested, and its last answers left it far from spent.
 */
function leasable(known: KnownBudget, now: number): boolean {
  return uncontested(known, now) && known.strictUntil <= now;
}

/** What a booking showed: another container spending the budget makes it strict for a while. */
export function learnContention(known: KnownBudget, contested: boolean, now = Date.now()): void {
  if (contested) {
    known.uncontestedSince = undefined;
    known.strictUntil = now + STRICT_HOLD_MS;
  } else {
    known.uncontestedSince ??= now;
  }
}

/**
 * What an answer showed: a window being spent (by this fleet or anyone else with the token)
 * keeps the budget strict for a window; a 429 (HighLevel counts calls the fleet does not see)
 * for longer.
 */
export function learnFromAnswer(
  known: KnownBudget,
  status: number,
  headers: RateLimitHeaders,
  now = Date.now(),
): void {
  if (
    headers.max !== undefined &&
    headers.remaining !== undefined &&
    headers.remaining < headers.max * FAR_FROM_SPENT
  ) {
    known.strictUntil = Math.max(
      known.strictUntil,
      now + (headers.intervalMs ?? DOCUMENTED_BURST.intervalMs),
    );
  }
  if (status === 429) {
    known.uncontestedSince = undefined;
    known.strictUntil = now + STRICT_HOLD_MS;
  }
}
