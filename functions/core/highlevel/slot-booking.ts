import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { type BudgetTable, budgetSchedule, num, readNumber } from "./budget-table.ts";
import { type BudgetCapacity, DOCUMENTED_BURST } from "./rate-pacer.ts";

const MAX_TABLE_TRIES = 4;
/**
 * How long a budget seen booked ahead is presumed busy, though this container's view is stale:
 * a contested budget is booked in turns, a batch at a time (every one to three seconds), so a
 * shorter memory guessed "idle" at every turn and paid a failed write for it.
 */
const BOOKED_MEMORY_MS = 10_000;
/**
 * While no answer has told a budget's real limit, each booking moves its next slot this far on
 * (`if_not_exists(spacing, …)`): the first call's answer, whichever container made it, writes
 * the spacing before the fleet's next call, so the limit is learnt once per location for the
 * fleet. (Booking at the documented spacing let K containers each send a first call at once.)
 */
export const PROBE_GAP_MS = 2_000;

/** What this container last learnt of one budget key; the table is the truth. */
export interface KnownBudget {
  spacingMs: number;
  /** How late after its slot a call may still go. */
  slackMs: number;
  /** The spacing the table was last seen to hold (so a learnt spacing is written once). */
  tableSpacingMs: number | undefined;
  /** The table's next free slot when last seen (epoch ms). */
  nextSlot: number | undefined;
  /** Where this container's last booking ended: the table's next slot right after it. */
  ownEnd: number | undefined;
  /** Since when every booking found the budget idle or just where this container left it. */
  uncontestedSince: number | undefined;
  /** The budget's window (`X-RateLimit-Interval-Milliseconds`), once an answer told it. */
  windowMs: number;
  /** When this container's last permits for the budget were granted (at most 100, ascending). */
  grantedAt: number[];
  /** Until then the budget is booked batch by batch, never leased (contention or a 429 seen). */
  strictUntil: number;
  /** When the table last showed slots booked ahead of now: other containers are likely busy. */
  sawBookedAt: number;
  dailyBlockedUntil: number;
  /** Slots booked in one write with the first, for this container's next calls (ascending). */
  banked: number[];
  /** The write booking slots for this key, while one is under way: other lanes wait for it. */
  taking: Promise<unknown> | undefined;
  /**
   * While neither HighLevel's headers nor the table have told this budget's spacing: the first
   * call's answer, which the container's other calls for the key wait for ("arrived" once one came).
   */
  firstAnswer: { arrived: Promise<void>; arrive: () => void } | undefined | "arrived";
}

/** A budget no answer or table read has told anything of yet: HighLevel's documented limit. */
export function unknownBudget(): KnownBudget {
  return {
    ...budgetSchedule(DOCUMENTED_BURST.max, DOCUMENTED_BURST.intervalMs),
    tableSpacingMs: undefined,
    nextSlot: undefined,
    ownEnd: undefined,
    uncontestedSince: undefined,
    windowMs: DOCUMENTED_BURST.intervalMs,
    grantedAt: [],
    strictUntil: 0,
    sawBookedAt: 0,
    dailyBlockedUntil: 0,
    banked: [],
    taking: undefined,
    firstAnswer: undefined,
  };
}

/** The calls one budget could still serve this container before `until`: its bank, then fresh slots. */
export function bookableBefore(known: KnownBudget, now: number, until: number): BudgetCapacity {
  const banked = known.banked.filter((slot) => slot <= until).length;
  const from = Math.max(now, known.nextSlot ?? now);
  const fresh = until < from ? 0 : Math.floor((until - from) / known.spacingMs) + 1;
  return {
    calls: banked + fresh,
    from: Math.min(from, known.banked[0] ?? from),
    spacingMs: known.spacingMs,
  };
}

export type Take =
  /** `contested`: another container had booked the budget since this one last did. */
  /** `probe`: the slot of a first call, which the table gave a probe's gap (the limit is unknown). */
  | { kind: "slot"; slots: number[]; contested: boolean; probe: boolean }
  | { kind: "busy"; until: number }
  | { kind: "daily"; until: number }
  /** Another container's first call is out to learn the limit: ask again once it answered. */
  | { kind: "probing"; until: number }
  | { kind: "idle" };

/**
 * Books up to `wanted` consecutive slots of a budget that all fall before `latest`, in one
 * conditional write when this container's view of the table is right (shared with the other
 * budgets of its shard item booked in the same turn: a batch's first calls), learning from the item
 * when it is not (at most four tries); says when the budget is busy, spent for the day, or
 * idle past what it could learn. `bridge` more slots are booked with them only where the write
 * finds the budget idle or where this container's last booking left it (`BRIDGE_MS`).
 */
export async function takeSlots(
  table: BudgetTable,
  key: string,
  known: KnownBudget,
  latest: number,
  deadline: number,
  wanted: number,
  bridge = 0,
): Promise<Take> {
  let slots = wanted;
  // Whether `known` holds what the table answered a moment ago (a failed write's item).
  let viewIsFresh = false;
  for (let tries = 0; tries < MAX_TABLE_TRIES; tries++) {
    const now = Date.now();
    // A booking starts ahead of now by the table's answer time, so that its slot has not passed
    // when the answer comes; a next slot at most half the slack before that may still be used,
    // an older one means the budget idled (and a booking from `start` comes after it). A caller
    // that cannot wait that long books from its horizon and may use the slot a little late,
    // within the slack: refusing it had a table slower than the wait refuse every call, for
    // ever, since no write was made that could tell a faster answer time.
    const start = Math.max(now, Math.min(now + table.leadMs, latest));
    const floor = start - known.slackMs / 2;
    // A booking starts at `start`: one that could not begin before the caller's horizon waits
    // (and DynamoDB refuses a BETWEEN whose bounds are the wrong way round).
    if (latest < start) {
      // Our patience ran out while retrying (stale slots, conflicts): come back later.
      return { kind: "busy", until: Math.max(now + known.spacingMs, known.nextSlot ?? 0) };
    }
    // Guessing wrong costs a failed write and a read. A stale view of a budget that was booked
    // ahead lately most likely means other containers kept booking it: guess busy then.
    // A view just read is no guess: a next slot below the floor means a booking starts anew
    // (guessing "busy" there failed every try while the table's slot sat just under the floor).
    const recentlyBooked = !viewIsFresh && now - known.sawBookedAt < BOOKED_MEMORY_MS;
    const idle = known.nextSlot === undefined || (known.nextSlot < floor && !recentlyBooked);
    // The bridge only for a booking this container alone makes (anew, or from where its own
    // last one ended): a budget another container has booked since is contested, and its next
    // slots are that container's turn.
    const bridged = idle || known.nextSlot === known.ownEnd ? bridge : 0;
    // Every slot booked must fall within this caller's horizon; and until HighLevel's headers
    // have told the budget's real spacing, slots are booked one by one.
    const booked =
      known.tableSpacingMs === undefined
        ? 1
        : Math.max(
            1,
            Math.min(slots + bridged, Math.floor((latest - start) / known.spacingMs) + 1),
          );
    const spacing = known.spacingMs;
    const span = booked * spacing;
    // One slot moves the budget on by the table's spacing, else (no answer has told it yet) by
    // the probe's gap; several by this container's spacing, which the condition checks.
    const step = known.tableSpacingMs === undefined ? PROBE_GAP_MS : spacing;
    // DynamoDB refuses values an expression does not use: each path names only its own.
    const values: Record<string, AttributeValue> = {
      ":now": num(now),
      ":floor": num(floor),
      ...(booked > 1 ? { ":spacing": num(spacing), ":span": num(span) } : { ":step": num(step) }),
    };
    const notDaily = "(attribute_not_exists(dailyUntil) OR dailyUntil < :now)";
    // Several slots are booked at this container's spacing: only if the table's is no wider.
    const spacingHolds = booked > 1 ? " AND spacing <= :spacing" : "";
    // Not knowing the limit, a container books a budget in use only once the table knows it.
    const limitKnown = known.tableSpacingMs === undefined ? " AND attribute_exists(spacing)" : "";
    const taken = idle
      ? // Nobody has called lately: the first slot is now, the next ones a spacing apart.
        await table.update(
          key,
          booked > 1
            ? "SET tat = :start + :span, #ttl = :ttl"
            : "SET tat = if_not_exists(spacing, :step) + :start, #ttl = :ttl",
          { ...values, ":start": num(start) },
          `(attribute_not_exists(tat) OR tat < :floor) AND ${notDaily}${spacingHolds}`,
          deadline,
          true,
        )
      : await table.update(
          key,
          // One slot: the table's spacing wins over what this container knows (others may have
          // learnt it). Several: this container's, which the condition checks is no narrower.
          booked > 1
            ? "SET tat = tat + :span, #ttl = :ttl"
            : "SET tat = tat + if_not_exists(spacing, :step), #ttl = :ttl",
          { ...values, ":lastStart": num(latest - (booked - 1) * spacing) },
          `tat BETWEEN :floor AND :lastStart AND ${notDaily}${spacingHolds}${limitKnown}`,
          deadline,
          true,
        );
    if (taken.ok) {
      const moved = booked > 1 ? span : (readNumber(taken.item.spacing) ?? step);
      const nextSlot = readNumber(taken.item.tat) ?? start + moved;
      learnFromItem(known, taken.item);
      // Where the booking began: now for an idle budget, else where the table stood.
      const first = idle ? start : nextSlot - moved;
      const contested = !idle && (known.ownEnd === undefined || Math.abs(first - known.ownEnd) > 1);
      known.nextSlot = nextSlot;
      known.ownEnd = nextSlot;
      // Only others' bookings say others are busy: a container that alone books a budget
      // finds it idle at its next batch (guessing busy there cost a failed write, and a read
      // where the table does not return the item, before every batch's first call).
      if (contested && nextSlot > now + known.spacingMs) known.sawBookedAt = now;
      return {
        kind: "slot",
        slots: Array.from({ length: booked }, (_, n) => first + n * spacing),
        contested,
        probe: booked === 1 && readNumber(taken.item.spacing) === undefined,
      };
    }
    // The condition failed: learn what the table holds (DynamoDB returns it with the failure;
    // an embedded table may not) and decide again.
    const current = taken.item ?? (await table.read(key, deadline));
    learnFromItem(known, current);
    known.nextSlot = readNumber(current?.tat);
    viewIsFresh = true;
    // What the table showed is now the view: booked ahead, or idle (then guess idle next).
    known.sawBookedAt = known.nextSlot !== undefined && known.nextSlot > now ? now : 0;
    if (known.dailyBlockedUntil > now) return { kind: "daily", until: known.dailyBlockedUntil };
    const probeEnd = known.tableSpacingMs === undefined ? known.nextSlot : undefined;
    if (probeEnd !== undefined && probeEnd >= floor) return { kind: "probing", until: probeEnd };
    if (known.nextSlot !== undefined && known.nextSlot > latest) {
      return { kind: "busy", until: known.nextSlot };
    }
    if (known.nextSlot !== undefined) {
      // Book only the slots that still fit before `latest` from where the table stands.
      const from = Math.max(known.nextSlot, now + table.leadMs);
      slots = Math.max(1, Math.min(slots, Math.floor((latest - from) / known.spacingMs) + 1));
    }
  }
  return { kind: "idle" };
}

export function learnFromItem(
  known: KnownBudget,
  item: Record<string, AttributeValue> | undefined,
): void {
  const spacing = readNumber(item?.spacing);
  if (spacing !== undefined && spacing > 0) {
    known.spacingMs = spacing;
    known.tableSpacingMs = spacing;
    known.slackMs = readNumber(item?.slack) ?? spacing;
  }
  known.dailyBlockedUntil = readNumber(item?.dailyUntil) ?? known.dailyBlockedUntil;
}
