import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { type BudgetTable, num, readNumber } from "./budget-table.ts";

const MAX_TABLE_TRIES = 4;
/** How long a budget seen booked ahead is presumed busy, though this container's view is stale. */
const BOOKED_MEMORY_MS = 2_000;

/** What this container last learnt of one budget key; the table is the truth. */
export interface KnownBudget {
  spacingMs: number;
  /** How late after its slot a call may still go. */
  slackMs: number;
  /** The spacing the table was last seen to hold (so a learnt spacing is written once). */
  tableSpacingMs: number | undefined;
  /** The table's next free slot when last seen (epoch ms). */
  nextSlot: number | undefined;
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

export type Take =
  | { kind: "slot"; slots: number[] }
  | { kind: "busy"; until: number }
  | { kind: "daily"; until: number }
  | { kind: "idle" };

/**
 * Books up to `wanted` consecutive slots of a budget that all fall before `latest`, in one
 * conditional write when this container's view of the table is right, learning from the item
 * when it is not (at most four tries); says when the budget is busy, spent for the day, or
 * idle past what it could learn.
 */
export async function takeSlots(
  table: BudgetTable,
  key: string,
  known: KnownBudget,
  latest: number,
  deadline: number,
  wanted: number,
): Promise<Take> {
  let slots = wanted;
  for (let tries = 0; tries < MAX_TABLE_TRIES; tries++) {
    const now = Date.now();
    // A slot at most half a spacing old may still be used; an older one means the budget idled.
    const floor = now - known.spacingMs / 2;
    if (latest < now) {
      // Our patience ran out while retrying (stale slots, conflicts): come back later.
      return { kind: "busy", until: Math.max(now + known.spacingMs, known.nextSlot ?? 0) };
    }
    // Every slot booked must fall within this caller's horizon; and until HighLevel's headers
    // have told the budget's real spacing, slots are booked one by one.
    slots =
      known.tableSpacingMs === undefined
        ? 1
        : Math.max(1, Math.min(slots, Math.floor((latest - now) / known.spacingMs) + 1));
    // Guessing wrong costs a failed write and a read. A stale view of a budget that was booked
    // ahead lately most likely means other containers kept booking it: guess busy then.
    const recentlyBooked = now - known.sawBookedAt < BOOKED_MEMORY_MS;
    const idle = known.nextSlot === undefined || (known.nextSlot < floor && !recentlyBooked);
    const spacing = known.spacingMs;
    const span = slots * spacing;
    // DynamoDB refuses values an expression does not use: each path names only its own.
    const values: Record<string, AttributeValue> = {
      ":now": num(now),
      ":floor": num(floor),
      ":spacing": num(spacing),
    };
    const notDaily = "(attribute_not_exists(dailyUntil) OR dailyUntil < :now)";
    // Several slots are booked at this container's spacing: only if the table's is no wider.
    const spacingHolds = slots > 1 ? " AND spacing <= :spacing" : "";
    const taken = idle
      ? // Nobody has called lately: the first slot is now, the next ones a spacing apart.
        await table.update(
          key,
          slots > 1
            ? "SET tat = :now + :span, #ttl = :ttl"
            : "SET tat = if_not_exists(spacing, :spacing) + :now, #ttl = :ttl",
          slots > 1 ? { ...values, ":span": num(span) } : values,
          `(attribute_not_exists(tat) OR tat < :floor) AND ${notDaily}${spacingHolds}`,
          deadline,
        )
      : await table.update(
          key,
          // One slot: the table's spacing wins over what this container knows (others may have
          // learnt it). Several: this container's, which the condition checks is no narrower.
          slots > 1
            ? "SET tat = tat + :span, #ttl = :ttl"
            : "SET tat = tat + if_not_exists(spacing, :spacing), #ttl = :ttl",
          {
            ...values,
            ...(slots > 1 && { ":span": num(span) }),
            ":lastStart": num(latest - (slots - 1) * spacing),
          },
          `tat BETWEEN :floor AND :lastStart AND ${notDaily}${spacingHolds}`,
          deadline,
        );
    if (taken.ok) {
      const nextSlot = readNumber(taken.item.tat) ?? now + span;
      learnFromItem(known, taken.item);
      known.nextSlot = nextSlot;
      if (nextSlot > now + known.spacingMs) known.sawBookedAt = now;
      if (slots === 1) return { kind: "slot", slots: [idle ? now : nextSlot - known.spacingMs] };
      const first = idle ? now : nextSlot - span;
      return {
        kind: "slot",
        slots: Array.from({ length: slots }, (_, n) => first + n * spacing),
      };
    }
    // The condition failed: learn what the table holds (DynamoDB returns it with the failure;
    // an embedded table may not) and decide again.
    const current = taken.item ?? (await table.read(key, deadline));
    learnFromItem(known, current);
    known.nextSlot = readNumber(current?.tat);
    // What the table showed is now the view: booked ahead, or idle (then guess idle next).
    known.sawBookedAt = known.nextSlot !== undefined && known.nextSlot > now ? now : 0;
    if (known.dailyBlockedUntil > now) return { kind: "daily", until: known.dailyBlockedUntil };
    if (known.nextSlot !== undefined && known.nextSlot > latest) {
      return { kind: "busy", until: known.nextSlot };
    }
    if (known.nextSlot !== undefined) {
      // Book only the slots that still fit before `latest` from where the table stands.
      const from = Math.max(known.nextSlot, now);
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
