import type { AttributeValue, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { raceTimeout, sleepUnlessReleased } from "../deadline.ts";
import { learnContention, learnFromAnswer, SLOTS_PER_TAKE, slotsToBook } from "./budget-leases.ts";
import { BudgetTable, budgetSchedule, num } from "./budget-table.ts";
import { ExpectedCalls, locationOf } from "./expected-calls.ts";
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
import {
  bookableBefore,
  type KnownBudget,
  PROBE_GAP_MS,
  type Take,
  takeSlots,
  unknownBudget,
} from "./slot-booking.ts";

export { budgetPlace, budgetSchedule } from "./budget-table.ts";

const DAILY_PAUSE_MS = 15 * 60_000;
/** How long a container paces alone after the table failed, before it tries the table again. */
const FALLBACK_MS = 60_000;
/** How often a container asks again while another's first call learns a budget's limit. */
const PROBE_POLL_MS = 250;

export interface FleetBudgetOptions {
  /** The DynamoDB client, created on first use. */
  client: () => Promise<DynamoDBClient>;
  tableName: string;
  /** Paces this container alone while the table cannot be reached. */
  fallback: RatePacer;
  /** Told once per container when the table fails and pacing falls back to the container. */
  onFallback?: (error: unknown) => void;
}

/**
 * One rate budget per location and token for the whole fleet, kept in the coordination table
 * (a token's budgets in 16 shard items: `budget-table.ts`).
 *
 * It spaces calls evenly: the table holds the budget's next free slot, and each permit moves it
 * on by `interval / (max − reserve)` (`budgetSchedule`) in a conditional `UpdateItem`, so in
 * any window of HighLevel's interval, wherever HighLevel anchors it, the fleet schedules at most
 * `max − reserve` calls. Every container reads what the others learnt: the spacing from `X-RateLimit-*`
 * headers, a 429 (the slot moves past the hold), an empty daily budget. Conditions keep it
 * correct under any number of writers. A batch's expected calls (`expect`) are booked in one
 * write per shard item, or leased over several batches (`budget-leases.ts`). If the table cannot
 * be reached, this container paces alone (`fallback`) for a minute and says so once.
 *
 * @example
 * const budget = new FleetBudget({ client: async () => dynamo, tableName, fallback: new RatePacer() });
 * const permit = await budget.acquire("loc1:ab12cd34ef56", deadline, 1_000);
 */
export class FleetBudget implements Pacer {
  readonly #options: FleetBudgetOptions;
  readonly #known = new Map<string, KnownBudget>();
  readonly #pendingWrites = new Set<Promise<unknown>>();
  readonly #expected = new ExpectedCalls();
  #fallbackUntil = 0;
  #fallbackAnnounced = false;
  readonly waits = { count: 0, totalMs: 0 };
  readonly #table: BudgetTable;

  constructor(options: FleetBudgetOptions) {
    this.#options = options;
    this.#table = new BudgetTable(options.client, options.tableName);
  }

  /** Table requests made, and slots given up as stale, for the cost model and the benchmark. */
  get requests() {
    return this.#table.requests;
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
      this.#expected.booked(key, 1);
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
      // How late the call may go: a probe's slot has its whole gap to itself.
      let slackMs = known.slackMs;
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
          const wanted = this.#slotsWanted(key);
          const taking = takeSlots(
            this.#table,
            key,
            known,
            latest,
            deadline,
            wanted.slots,
            wanted.bridge,
          );
          known.taking = taking.catch(() => undefined);
          take = await taking;
        } catch (error) {
          this.#fallBack(error);
          return this.#options.fallback.acquire(key, deadline, maxWaitMs, release);
        } finally {
          known.taking = undefined;
        }
        if (take.kind === "probing") {
          // The probe's answer comes within an answer time; its slot is the next one.
          const wait = Math.min(PROBE_POLL_MS, latest - Date.now());
          if (wait <= 0 || (await sleepUnlessReleased(wait, release))) {
            return refuse("burst", take.until);
          }
          continue;
        }
        if (take.kind === "daily") return refuse("daily", take.until);
        if (take.kind === "busy") return refuse("burst", take.until);
        if (take.kind === "idle") return refuse("burst", Date.now() + known.spacingMs);
        learnContention(known, take.contested);
        this.#expected.booked(key, take.slots.length);
        if (take.probe) slackMs = PROBE_GAP_MS / 2;
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
      if (Date.now() - slot > slackMs) {
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
      known.grantedAt.push(Date.now());
      if (known.grantedAt.length > SLOTS_PER_TAKE.max) known.grantedAt.shift();
      return { granted: true, waitedMs: Date.now() - started, slotAt: slot };
    }
  }

  /**
   * `calls` permits for `locationId` will be asked for soon (a batch's jobs): the next write for
   * it books them at once (`slotsToBook`); slots nobody uses are lost, the table stays correct.
   */
  expect(locationId: string, calls: number): void {
    const now = Date.now();
    // Slots already banked (a lease, a bridge, a released tail) serve the first of these calls.
    let banked = 0;
    for (const [key, known] of this.#known) {
      if (locationOf(key) !== locationId) continue;
      banked += known.banked.filter((slot) => now - slot <= known.slackMs).length;
    }
    this.#expected.add(locationId, calls, banked, now);
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
      const these = bookableBefore(known, now, until);
      if (total === undefined || these.calls < total.calls) total = these;
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

  #slotsWanted(key: string): { slots: number; bridge: number } {
    const expected = this.#expected.pending(key);
    if (expected === undefined) return { slots: 1, bridge: 0 };
    return slotsToBook(this.#knownFor(key), expected);
  }

  observe(key: string, status: number, headers: RateLimitHeaders, sentAt: number): void {
    this.#options.fallback.observe(key, status, headers, sentAt);
    if (this.fallingBack) return;
    const known = this.#knownFor(key);
    const waiting = typeof known.firstAnswer === "object" ? known.firstAnswer : undefined;
    known.firstAnswer = "arrived";
    const now = Date.now();
    let arriveLater = false;
    if (headers.max !== undefined && headers.max > 0 && headers.intervalMs !== undefined) {
      const { spacingMs, slackMs } = budgetSchedule(headers.max, headers.intervalMs);
      known.spacingMs = spacingMs;
      known.slackMs = slackMs;
      known.windowMs = headers.intervalMs;
      const probeEnd = known.tableSpacingMs === undefined ? known.ownEnd : undefined;
      if (
        known.tableSpacingMs === undefined ||
        Math.abs(known.tableSpacingMs - spacingMs) > spacingMs * 0.005
      ) {
        known.tableSpacingMs = spacingMs;
        const learnt = { ":spacing": num(spacingMs), ":slack": num(slackMs) };
        if (probeEnd !== undefined) {
          // This container's probe set the budget's next slot a probe's gap ahead: bring it
          // back to one spacing after the probe, unless someone booked after it. The lanes
          // waiting for this answer (and any that come) book once that write is done.
          const pulled = probeEnd - PROBE_GAP_MS + spacingMs;
          const pulling = this.#track(
            this.#table
              .update(
                key,
                "SET spacing = :spacing, slack = :slack, tat = :pulled, #ttl = :ttl",
                { ...learnt, ":pulled": num(pulled), ":probeEnd": num(probeEnd) },
                "tat = :probeEnd",
                Date.now() + 5_000,
              )
              .then((answer) => {
                if (answer.ok) {
                  known.nextSlot = pulled;
                  known.ownEnd = pulled;
                } else {
                  this.#write(key, "SET spacing = :spacing, slack = :slack, #ttl = :ttl", learnt);
                }
              }),
          );
          known.taking = pulling;
          arriveLater = true;
          void pulling.finally(() => {
            if (known.taking === pulling) known.taking = undefined;
            waiting?.arrive();
          });
        } else {
          this.#write(key, "SET spacing = :spacing, slack = :slack, #ttl = :ttl", learnt);
        }
      }
    }
    if (!arriveLater) waiting?.arrive();
    learnFromAnswer(known, status, headers, now);
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
    await this.#table.flush();
  }

  /** A write `observe` starts without waiting for it; its failure only switches to the fallback. */
  #write(
    key: string,
    expression: string,
    values: Record<string, AttributeValue>,
    condition?: string,
  ): void {
    this.#track(this.#table.update(key, expression, values, condition, Date.now() + 5_000));
  }

  /** Keeps a write `observe` started for `flush`; its failure only switches to the fallback. */
  #track(write: Promise<unknown>): Promise<void> {
    const tracked: Promise<void> = write
      .then(() => undefined)
      .catch((error) => this.#fallBack(error))
      .finally(() => this.#pendingWrites.delete(tracked));
    this.#pendingWrites.add(tracked);
    return tracked;
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
      known = unknownBudget();
      this.#known.set(key, known);
    }
    return known;
  }
}
