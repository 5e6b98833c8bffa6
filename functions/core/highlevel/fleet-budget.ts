import type { AttributeValue, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { beforeDeadline, raceTimeout, sleepUnlessReleased } from "../deadline.ts";
import {
  type BudgetCapacity,
  DOCUMENTED_BURST,
  FIRST_ANSWER_WAIT_MS,
  MIN_THROTTLE_HOLD_MS,
  type Pacer,
  type Permit,
  type RateLimitHeaders,
  type RatePacer,
} from "./rate-pacer.ts";

/** The share of each window the fleet leaves unspent (at least one call): the room for late calls. */
const RESERVE_SHARE = 0.02;

/**
 * How a budget of `max` calls per `intervalMs` is spent: one slot every `spacingMs`, leaving
 * 2% of the window (at least one call) unspent; a call may be made up to `slackMs` after its
 * slot, since the calls that lateness can add to one window are no more than that reserve.
 *
 * @example
 * budgetSchedule(50, 2_000) // { spacingMs: ≈40.8, slackMs: ≈40.8 }: 49 calls a window
 */
export function budgetSchedule(max: number, intervalMs: number) {
  const reserve = max > 1 ? Math.max(1, Math.ceil(max * RESERVE_SHARE)) : 0;
  // A hair over interval / calls, so that the calls' slots never all fit in one interval.
  const spacingMs = (intervalMs / (max - reserve)) * 1.0001;
  // A one-call budget has no room for lateness; half a spacing keeps it usable at all.
  return { spacingMs, slackMs: spacingMs * Math.max(reserve, 0.5) };
}

/** Until an answer tells HighLevel's real limit: its documented one. */
const DEFAULT_SCHEDULE = budgetSchedule(DOCUMENTED_BURST.max, DOCUMENTED_BURST.intervalMs);
const DAILY_PAUSE_MS = 15 * 60_000;
/** How long a container paces alone after the table failed, before it tries the table again. */
const FALLBACK_MS = 60_000;
/** Budget items outlive any window by far; TTL removes those of locations no longer worked. */
const ITEM_LIFETIME_SECONDS = 2 * 24 * 3600;
const MAX_TABLE_TRIES = 4;
/** How long a budget seen booked ahead is presumed busy, though this container's view is stale. */
const BOOKED_MEMORY_MS = 2_000;
/**
 * How many slots one write books for the calls this container expects (`expect`): about a
 * second of the budget, at least ten and at most a hundred.
 */
const SLOTS_PER_TAKE = { spanMs: 1_000, min: 10, max: 100 } as const;
/** How long an expectation holds: a batch's calls are asked for well within it. */
const EXPECTATION_MS = 30_000;

export interface FleetBudgetOptions {
  /** The DynamoDB client, created on first use. */
  client: () => Promise<DynamoDBClient>;
  tableName: string;
  /** Paces this container alone while the table cannot be reached. */
  fallback: RatePacer;
  /** Told once per container when the table fails and pacing falls back to the container. */
  onFallback?: (error: unknown) => void;
}

/** What this container last learnt of one budget key; the table is the truth. */
interface KnownBudget {
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

type Take =
  | { kind: "slot"; slots: number[] }
  | { kind: "busy"; until: number }
  | { kind: "daily"; until: number }
  | { kind: "idle" };

/**
 * One rate budget per location and token for the whole fleet, kept in the coordination table
 * (`pk = "budget#<locationId>#<token fingerprint>"`).
 *
 * It spaces calls evenly: the item holds the budget's next free slot, and each permit moves it
 * on by `interval / (max − reserve)` (`budgetSchedule`) in one conditional `UpdateItem`, so in
 * any window of HighLevel's interval, wherever HighLevel anchors it, the fleet schedules at most
 * `max − reserve` calls. Every container reads what the others learnt: the spacing from `X-RateLimit-*`
 * headers, a 429 (the slot moves past the hold), an empty daily budget. Conditions keep it
 * correct under any number of writers; a permit usually costs one write. When the container
 * expects several calls for a location (`expect`: a batch's jobs), one write books up to a second of
 * consecutive slots and the container's jobs use them in turn.
 *
 * If the table cannot be reached, this container paces alone (`fallback`) for a minute and
 * says so once; no job fails because the table is down.
 *
 * @example
 * const budget = new FleetBudget({ client: async () => dynamo, tableName, fallback: new RatePacer() });
 * const permit = await budget.acquire("loc1:ab12cd34ef56", deadline, 1_000);
 */
export class FleetBudget implements Pacer {
  readonly #options: FleetBudgetOptions;
  readonly #known = new Map<string, KnownBudget>();
  readonly #pendingWrites = new Set<Promise<unknown>>();
  /** Calls expected per location and not yet booked (see `expect`). */
  readonly #expected = new Map<string, { calls: number; until: number }>();
  #fallbackUntil = 0;
  #fallbackAnnounced = false;
  readonly waits = { count: 0, totalMs: 0 };
  /** Table requests made, for the cost model and the benchmark. */
  readonly requests = { writes: 0, reads: 0, conflicts: 0, staleSlots: 0 };

  constructor(options: FleetBudgetOptions) {
    this.#options = options;
  }

  /** True while the table is out of reach and this container paces alone. */
  get fallingBack(): boolean {
    return this.#fallbackUntil > Date.now();
  }

  async acquire(
    key: string,
    deadline: number,
    maxWaitMs = Number.POSITIVE_INFINITY,
    release?: AbortSignal,
  ): Promise<Permit> {
    if (this.fallingBack) {
      return this.#options.fallback.acquire(key, deadline, maxWaitMs, release);
    }
    const started = Date.now();
    const latest = Math.min(deadline, started + maxWaitMs);
    const known = this.#knownFor(key);
    const refuse = (reason: "burst" | "daily", until: number): Permit => {
      // This call will not be made: one fewer to book for the location.
      this.#booked(key, 1);
      return { granted: false, reason, retryAfterMs: until - Date.now() };
    };
    let waitedForFirstAnswer = false;
    for (;;) {
      if (
        !waitedForFirstAnswer &&
        known.tableSpacingMs === undefined &&
        typeof known.firstAnswer === "object"
      ) {
        // The documented limit may be far above the real one: one call goes first, the others
        // wait a little for what its answer says. Without an answer by then (its slot is far
        // ahead, it is slow, or it failed) they go on at the documented spacing.
        waitedForFirstAnswer = true;
        const wait = Math.min(latest - Date.now(), FIRST_ANSWER_WAIT_MS);
        if (wait > 0) await raceTimeout(known.firstAnswer.arrived, wait);
      }
      if (known.dailyBlockedUntil > Date.now()) {
        known.banked = [];
        return refuse("daily", known.dailyBlockedUntil);
      }
      let slot = this.#firstBankedSlot(known);
      if (slot !== undefined) {
        // A slot beyond this caller's horizon stays banked for a caller that can wait for it.
        if (slot > latest) return refuse("burst", slot);
        known.banked.shift();
      } else {
        if (known.nextSlot !== undefined && known.nextSlot > latest) {
          // Known to be booked past our horizon: no need to ask the table.
          return refuse("burst", known.nextSlot);
        }
        if (known.taking) {
          // Another lane is booking this key; it may book for this call too.
          await known.taking;
          continue;
        }
        let take: Take;
        try {
          const taking = this.#take(key, known, latest, deadline, this.#slotsWanted(key));
          known.taking = taking.catch(() => undefined);
          take = await taking;
        } catch (error) {
          this.#fallBack(error);
          return this.#options.fallback.acquire(key, deadline, maxWaitMs, release);
        } finally {
          known.taking = undefined;
        }
        if (take.kind === "daily") return refuse("daily", take.until);
        if (take.kind === "busy") return refuse("burst", take.until);
        if (take.kind === "idle") return refuse("burst", Date.now() + known.spacingMs);
        this.#booked(key, take.slots.length);
        const [first, ...rest] = take.slots as [number, ...number[]];
        slot = first;
        known.banked.push(...rest);
      }
      const now = Date.now();
      if (slot > now && (await sleepUnlessReleased(slot - now, release))) {
        // Released: the slot goes back to the bank, for this container's next call for the key.
        known.banked.push(slot);
        known.banked.sort((a, b) => a - b);
        return refuse("burst", slot);
      }
      // A call a little late adds no more calls to any window than the reserve covers; a
      // container woken later than that would crowd the slots that follow, so it lets its
      // slot go and takes a fresh one.
      if (Date.now() - slot > known.slackMs) {
        this.requests.staleSlots += 1;
        continue;
      }
      if (slot > started) {
        this.waits.count += 1;
        this.waits.totalMs += Date.now() - started;
      }
      if (known.tableSpacingMs === undefined && known.firstAnswer === undefined) {
        let arrive = () => {};
        const arrived = new Promise<void>((resolve) => {
          arrive = resolve;
        });
        known.firstAnswer = { arrived, arrive };
      }
      return { granted: true, waitedMs: Date.now() - started, slotAt: slot };
    }
  }

  /**
   * `calls` permits for `locationId` will be asked for soon (a batch's jobs): the next write for
   * it books that many slots at once (about a second of the budget, 10 to 100), so that a batch costs a write per location
   * rather than per job. Slots nobody uses are simply lost; the table stays correct.
   */
  expect(locationId: string, calls: number): void {
    const now = Date.now();
    const current = this.#expected.get(locationId);
    const open = current && current.until > now ? current.calls : 0;
    this.#expected.set(locationId, { calls: open + calls, until: now + EXPECTATION_MS });
  }

  /**
   * The slots this container could book for `locationId` before `until`, from where the table
   * was last seen (other containers book too: it is an upper bound). Unknown until the budget's
   * spacing has been learnt.
   */
  capacity(locationId: string, until: number): BudgetCapacity | undefined {
    if (this.fallingBack) return this.#options.fallback.capacity(locationId, until);
    const now = Date.now();
    let total: BudgetCapacity | undefined;
    for (const [key, known] of this.#known) {
      // A spent daily budget is the acquire's to report (the job is deferred, not handed back).
      if (locationOf(key) !== locationId || known.tableSpacingMs === undefined) continue;
      if (known.dailyBlockedUntil > now) return undefined;
      const banked = known.banked.filter((slot) => slot <= until).length;
      const from = Math.max(now, known.nextSlot ?? now);
      const fresh = until < from ? 0 : Math.floor((until - from) / known.spacingMs) + 1;
      if (total === undefined || banked + fresh < total.calls) {
        total = {
          calls: banked + fresh,
          from: Math.min(from, known.banked[0] ?? from),
          spacingMs: known.spacingMs,
        };
      }
    }
    return total;
  }

  /** The earliest banked slot still usable (late ones are dropped), or none. */
  #firstBankedSlot(known: KnownBudget): number | undefined {
    const now = Date.now();
    while (known.banked.length > 0 && now - (known.banked[0] as number) > known.slackMs) {
      known.banked.shift();
      this.requests.staleSlots += 1;
    }
    return known.banked[0];
  }

  #slotsWanted(key: string): number {
    const expected = this.#expected.get(locationOf(key));
    if (!expected || expected.until <= Date.now()) return 1;
    const known = this.#known.get(key);
    const perTake = Math.min(
      SLOTS_PER_TAKE.max,
      Math.max(SLOTS_PER_TAKE.min, Math.floor(SLOTS_PER_TAKE.spanMs / (known?.spacingMs ?? 1_000))),
    );
    return Math.max(1, Math.min(perTake, expected.calls));
  }

  /** `slots` of the location's expected calls are booked (or will not be made). */
  #booked(key: string, slots: number): void {
    const location = locationOf(key);
    const expected = this.#expected.get(location);
    if (!expected) return;
    expected.calls -= slots;
    if (expected.calls <= 0) this.#expected.delete(location);
  }

  observe(key: string, status: number, headers: RateLimitHeaders, sentAt: number): void {
    this.#options.fallback.observe(key, status, headers, sentAt);
    if (this.fallingBack) return;
    const known = this.#knownFor(key);
    if (typeof known.firstAnswer === "object") known.firstAnswer.arrive();
    known.firstAnswer = "arrived";
    const now = Date.now();
    if (headers.max !== undefined && headers.max > 0 && headers.intervalMs !== undefined) {
      const { spacingMs, slackMs } = budgetSchedule(headers.max, headers.intervalMs);
      known.spacingMs = spacingMs;
      known.slackMs = slackMs;
      if (
        known.tableSpacingMs === undefined ||
        Math.abs(known.tableSpacingMs - spacingMs) > spacingMs * 0.005
      ) {
        known.tableSpacingMs = spacingMs;
        this.#write(key, "SET spacing = :spacing, slack = :slack, #ttl = :ttl", {
          ":spacing": num(spacingMs),
          ":slack": num(slackMs),
        });
      }
    }
    if (status === 429) {
      const holdUntil =
        now + Math.max(MIN_THROTTLE_HOLD_MS, headers.intervalMs ?? DOCUMENTED_BURST.intervalMs);
      known.nextSlot = Math.max(known.nextSlot ?? 0, holdUntil);
      // Slots booked before the 429 lie within the hold: they are not used.
      known.banked = [];
      this.#write(
        key,
        "SET tat = :until, #ttl = :ttl",
        { ":until": num(holdUntil) },
        "attribute_not_exists(tat) OR tat < :until",
      );
    }
    if (headers.dailyRemaining === 0 && known.dailyBlockedUntil <= now) {
      const until = now + DAILY_PAUSE_MS;
      known.dailyBlockedUntil = until;
      known.banked = [];
      // Recorded once for the fleet: later writers find it set and leave it.
      this.#write(
        key,
        "SET dailyUntil = :until, #ttl = :ttl",
        { ":until": num(until), ":now": num(now) },
        "attribute_not_exists(dailyUntil) OR dailyUntil < :now",
      );
    }
  }

  /** Waits for the writes `observe` started (tests, and before a process exits). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pendingWrites]);
  }

  async #take(
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
          await this.#update(
            key,
            slots > 1
              ? "SET tat = :now + :span, #ttl = :ttl"
              : "SET tat = if_not_exists(spacing, :spacing) + :now, #ttl = :ttl",
            slots > 1 ? { ...values, ":span": num(span) } : values,
            `(attribute_not_exists(tat) OR tat < :floor) AND ${notDaily}${spacingHolds}`,
            deadline,
          )
        : await this.#update(
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
        this.#learn(known, taken.item);
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
      const current = taken.item ?? (await this.#read(key, deadline));
      this.#learn(known, current);
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

  #learn(known: KnownBudget, item: Record<string, AttributeValue> | undefined): void {
    const spacing = readNumber(item?.spacing);
    if (spacing !== undefined && spacing > 0) {
      known.spacingMs = spacing;
      known.tableSpacingMs = spacing;
      known.slackMs = readNumber(item?.slack) ?? spacing;
    }
    known.dailyBlockedUntil = readNumber(item?.dailyUntil) ?? known.dailyBlockedUntil;
  }

  /** A conditional update: the item after it, or as it stood when the condition failed. */
  async #update(
    key: string,
    expression: string,
    values: Record<string, AttributeValue>,
    condition: string | undefined,
    deadline: number,
  ): Promise<
    | { ok: true; item: Record<string, AttributeValue> }
    | { ok: false; item: Record<string, AttributeValue> | undefined }
  > {
    const { UpdateItemCommand } = await import("@aws-sdk/client-dynamodb");
    const client = await this.#options.client();
    this.requests.writes += 1;
    try {
      const answer = await beforeDeadline(deadline, "taking a rate permit", (abortSignal) =>
        client.send(
          new UpdateItemCommand({
            TableName: this.#options.tableName,
            Key: { pk: { S: budgetItemKey(key) } },
            UpdateExpression: expression,
            ...(condition && { ConditionExpression: condition }),
            ExpressionAttributeNames: { "#ttl": "ttl" },
            ExpressionAttributeValues: {
              ...values,
              ":ttl": num(Math.floor(Date.now() / 1000) + ITEM_LIFETIME_SECONDS),
            },
            ReturnValues: "ALL_NEW",
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
          { abortSignal },
        ),
      );
      return { ok: true, item: answer.Attributes ?? {} };
    } catch (error) {
      if ((error as { name?: string }).name === "ConditionalCheckFailedException") {
        this.requests.conflicts += 1;
        return { ok: false, item: (error as { Item?: Record<string, AttributeValue> }).Item };
      }
      throw error;
    }
  }

  async #read(key: string, deadline: number): Promise<Record<string, AttributeValue> | undefined> {
    const { GetItemCommand } = await import("@aws-sdk/client-dynamodb");
    const client = await this.#options.client();
    this.requests.reads += 1;
    const answer = await beforeDeadline(deadline, "reading a rate budget", (abortSignal) =>
      client.send(
        new GetItemCommand({
          TableName: this.#options.tableName,
          Key: { pk: { S: budgetItemKey(key) } },
          ConsistentRead: true,
        }),
        { abortSignal },
      ),
    );
    return answer.Item;
  }

  /** A write `observe` starts without waiting for it; its failure only switches to the fallback. */
  #write(
    key: string,
    expression: string,
    values: Record<string, AttributeValue>,
    condition?: string,
  ): void {
    const write = this.#update(key, expression, values, condition, Date.now() + 5_000)
      .catch((error) => this.#fallBack(error))
      .finally(() => this.#pendingWrites.delete(write));
    this.#pendingWrites.add(write);
  }

  #fallBack(error: unknown): void {
    this.#fallbackUntil = Date.now() + FALLBACK_MS;
    if (!this.#fallbackAnnounced) {
      this.#fallbackAnnounced = true;
      this.#options.onFallback?.(error);
    }
  }

  #knownFor(key: string): KnownBudget {
    let known = this.#known.get(key);
    if (!known) {
      known = {
        ...DEFAULT_SCHEDULE,
        tableSpacingMs: undefined,
        nextSlot: undefined,
        sawBookedAt: 0,
        dailyBlockedUntil: 0,
        banked: [],
        taking: undefined,
        firstAnswer: undefined,
      };
      this.#known.set(key, known);
    }
    return known;
  }
}

/** The location a budget key (`<locationId>:<fingerprint>`) belongs to. */
function locationOf(key: string): string {
  const colon = key.lastIndexOf(":");
  return colon === -1 ? key : key.slice(0, colon);
}

/** The coordination table's key for a budget key (`<locationId>:<fingerprint>`). */
export function budgetItemKey(key: string): string {
  return `budget#${key.replace(":", "#")}`;
}

function num(value: number): AttributeValue {
  return { N: String(Math.round(value * 1000) / 1000) };
}

function readNumber(value: AttributeValue | undefined): number | undefined {
  const parsed = value?.N === undefined ? Number.NaN : Number(value.N);
  return Number.isFinite(parsed) ? parsed : undefined;
}
