import type { AttributeValue, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { beforeDeadline } from "../deadline.ts";
import {
  BUDGET_FIELDS,
  type BudgetField,
  type BudgetWrite,
  mergeWrites,
  type UpdateAnswer,
} from "./budget-writes.ts";

/** The share of each window the fleet leaves unspent (at least one call): the room for late calls. */
const RESERVE_SHARE = 0.02;
/**
 * A further share left for the way to HighLevel: a call sent within its slack can still arrive
 * later (a loaded host, the network), and HighLevel counts arrivals. Whole calls only, so
 * budgets under 100 calls a window (whose spacing is long beside such delays) keep all theirs.
 * Without it the agency case drew a 429 in two runs of seven: 101 arrivals in one window.
 */
const TRANSIT_SHARE = 0.01;

/**
 * How a budget of `max` calls per `intervalMs` is spent: one slot every `spacingMs`, leaving
 * 2% of the window (at least one call) unspent, and 1% more (whole calls) for the way there;
 * a call may be made up to `slackMs` after its slot, since the calls that lateness can add to
 * one window are no more than that reserve.
 * (Keeping half a spacing of it back for the send was tried in issue #27: it cost the 20 ms
 * cases up to 0.07 of their ceiling in slots woken "late" and drew no fewer 429s.)
 *
 * @example
 * budgetSchedule(50, 2_000) // { spacingMs: ≈40.8, slackMs: ≈40.8 }: 49 calls a window
 */
export function budgetSchedule(max: number, intervalMs: number) {
  const reserve = max > 1 ? Math.max(1, Math.ceil(max * RESERVE_SHARE)) : 0;
  const transit = Math.floor(max * TRANSIT_SHARE);
  // A hair over interval / calls, so that the calls' slots never all fit in one interval.
  const spacingMs = (intervalMs / (max - reserve - transit)) * 1.0001;
  // A one-call budget has no room for lateness; half a spacing keeps it usable at all.
  return { spacingMs, slackMs: spacingMs * Math.max(reserve, 0.5) };
}

/** The most a booking starts ahead of now for the table's answer time. */
const MAX_LEAD_MS = 1_000;

/** Budget items outlive any window by far; TTL removes those of tokens no longer used. */
const ITEM_LIFETIME_SECONDS = 2 * 24 * 3600;
/**
 * A location not booked for this long leaves its shard item, which TTL would never remove while
 * other locations keep it busy: the item's size is what every write to it costs.
 */
const IDLE_BUDGET_MS = ITEM_LIFETIME_SECONDS * 1000;

/**
 * Items a token's budgets are spread over. One write books every budget of a batch that shares
 * an item, so a batch over 100 locations costs about 16 writes, not 100; each item stays near
 * 1 KB (one write unit) up to about 150 locations a token, and grows a unit per ~10 locations
 * beyond that.
 */
export const BUDGET_SHARDS = 16;

/**
 * At most this many budgets are booked in one write: DynamoDB caps an expression at 4 KB and a
 * condition at 300 operators and functions (a booking's condition has about 10).
 */
const MAX_WRITES_PER_REQUEST = 16;

type Item = Record<string, AttributeValue>;

/**
 * Where a budget key (`<locationId>:<fingerprint>`) lives in the coordination table: its shard
 * item (`pk = "budgets#<fingerprint>#<shard>"`) and its attributes there.
 *
 * @example
 * budgetPlace("loc1:ab12cd34ef56") // { pk: "budgets#ab12cd34ef56#7", attribute: (f) => "t#loc1", … }
 */
export function budgetPlace(key: string) {
  const colon = key.lastIndexOf(":");
  const locationId = colon === -1 ? key : key.slice(0, colon);
  const fingerprint = colon === -1 ? "" : key.slice(colon + 1);
  return {
    pk: `budgets#${fingerprint}#${shardOf(locationId)}`,
    locationId,
    attribute: (field: BudgetField) => `${BUDGET_FIELDS[field]}#${locationId}`,
  };
}

/** FNV-1a of the location id: every container puts a location in the same shard. */
function shardOf(locationId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < locationId.length; i++) {
    hash ^= locationId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % BUDGET_SHARDS;
}

/** One budget's attributes out of its shard item, under their own names (`tat`, `spacing`, …). */
function projectBudget(item: Item | undefined, key: string): Item | undefined {
  if (!item) return undefined;
  const place = budgetPlace(key);
  const own: Item = {};
  for (const field of Object.keys(BUDGET_FIELDS) as BudgetField[]) {
    const value = item[place.attribute(field)];
    if (value) own[field] = value;
  }
  return own;
}

/**
 * The coordination table's rate budgets: conditional updates that return the budget's
 * attributes (as they stood, when the condition failed) and consistent reads, each bounded by a
 * deadline, counted for the cost model. Updates name a budget's attributes as `tat`, `spacing`,
 * `slack` and `dailyUntil`; the table maps them onto the budget's shard item. Bookings asked for
 * at once (a batch's first calls) are sent together, one conditional write per shard item.
 */
export class BudgetTable {
  /** Requests, the write units they cost (item size, 1 KB a unit), conflicts and stale slots. */
  readonly requests = { writes: 0, writeUnits: 0, reads: 0, conflicts: 0, staleSlots: 0 };
  /** How long a write takes to be answered, smoothed (ms): bookings start this far ahead. */
  #writeMs = 0;
  readonly #client: () => Promise<DynamoDBClient>;
  readonly #tableName: string;
  /** Bookings waiting to be sent, per shard item. */
  readonly #waiting = new Map<string, BudgetWrite[]>();
  /** Removals of idle locations under way, per shard item (see `flush`). */
  readonly #pruning = new Map<string, Promise<void>>();

  constructor(client: () => Promise<DynamoDBClient>, tableName: string) {
    this.#client = client;
    this.#tableName = tableName;
  }

  /**
   * A conditional update of one budget: its attributes after it, or as they stood when the
   * condition failed. With `together`, it goes with the other bookings asked for in this turn
   * of the event loop that share its shard item, in one write; if that write's condition
   * fails, each learns the item as it stood and decides again.
   */
  update(
    key: string,
    expression: string,
    values: Record<string, AttributeValue>,
    condition: string | undefined,
    deadline: number,
    together = false,
  ): Promise<UpdateAnswer> {
    const write = { key, expression, values, condition, deadline };
    if (!together) return this.#send([write]).then(([answer]) => answer as UpdateAnswer);
    // Each booking still ends by its own deadline; the write goes on for the others with it.
    return beforeDeadline(
      deadline,
      "taking a rate permit",
      () =>
        new Promise<UpdateAnswer>((resolve, reject) => {
          const { pk } = budgetPlace(key);
          let waiting = this.#waiting.get(pk);
          if (!waiting) {
            waiting = [];
            this.#waiting.set(pk, waiting);
            setImmediate(() => this.#flush(pk));
          }
          waiting.push({ ...write, resolve, reject });
        }),
    );
  }

  /** Sends a shard's waiting bookings, at most one per budget and a capped number per write. */
  #flush(pk: string): void {
    const waiting = this.#waiting.get(pk) ?? [];
    this.#waiting.delete(pk);
    while (waiting.length > 0) {
      const group: BudgetWrite[] = [];
      const keys = new Set<string>();
      for (let i = 0; i < waiting.length && group.length < MAX_WRITES_PER_REQUEST; ) {
        const write = waiting[i] as BudgetWrite;
        if (keys.has(write.key)) {
          i++;
          continue;
        }
        keys.add(write.key);
        group.push(write);
        waiting.splice(i, 1);
      }
      this.#send(group).then(
        (answers) => {
          for (const [n, write] of group.entries()) write.resolve?.(answers[n] as UpdateAnswer);
        },
        (error) => {
          for (const write of group) write.reject?.(error);
        },
      );
    }
  }

  /** One conditional `UpdateItem` for writes that share a shard item. */
  async #send(group: BudgetWrite[]): Promise<UpdateAnswer[]> {
    const { UpdateItemCommand } = await import("@aws-sdk/client-dynamodb");
    const client = await this.#client();
    const first = group[0] as BudgetWrite;
    const { pk } = budgetPlace(first.key);
    const merged = mergeWrites(group, (key, field) => budgetPlace(key).attribute(field));
    const deadline = Math.max(...group.map((write) => write.deadline));
    this.requests.writes += 1;
    const sentAt = Date.now();
    try {
      const answer = await beforeDeadline(deadline, "taking a rate permit", (abortSignal) =>
        client.send(
          new UpdateItemCommand({
            TableName: this.#tableName,
            Key: { pk: { S: pk } },
            UpdateExpression: merged.expression,
            ...(merged.condition && { ConditionExpression: merged.condition }),
            ExpressionAttributeNames: merged.names,
            ExpressionAttributeValues: {
              ...merged.values,
              ":ttl": num(Math.floor(Date.now() / 1000) + ITEM_LIFETIME_SECONDS),
            },
            ReturnValues: "ALL_NEW",
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
          { abortSignal },
        ),
      );
      this.#timed(sentAt);
      const item = answer.Attributes ?? {};
      this.requests.writeUnits += writeUnits(item);
      this.#pruneIdle(pk, item);
      return group.map((write) => ({ ok: true, item: projectBudget(item, write.key) ?? {} }));
    } catch (error) {
      if ((error as { name?: string }).name !== "ConditionalCheckFailedException") throw error;
      this.#timed(sentAt);
      this.requests.conflicts += 1;
      // DynamoDB returns the item with the failure; an embedded table may not. Bookings that
      // went together read it once, for all of them.
      let item = (error as { Item?: Item }).Item;
      if (!item && group.length > 1) item = await this.#readItem(pk, deadline);
      // A failed conditional write is billed by the item's size too.
      this.requests.writeUnits += writeUnits(item ?? {});
      return group.map((write) => ({ ok: false, item: projectBudget(item, write.key) }));
    }
  }

  /** Waits for the removals of idle locations under way (tests, and before a process exits). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pruning.values()]);
  }

  /**
   * Removes from a shard item the locations nobody has booked for `IDLE_BUDGET_MS`, in one write
   * conditional on each still being idle; its failure changes nothing but the item's size.
   */
  #pruneIdle(pk: string, item: Item): void {
    const idleBefore = Date.now() - IDLE_BUDGET_MS;
    const prefix = `${BUDGET_FIELDS.tat}#`;
    const idle = Object.entries(item)
      .filter(([name, value]) => name.startsWith(prefix) && (readNumber(value) ?? 0) < idleBefore)
      .map(([name]) => name.slice(prefix.length))
      .slice(0, MAX_WRITES_PER_REQUEST);
    if (idle.length === 0 || this.#pruning.has(pk)) return;
    const names: Record<string, string> = {};
    const removed: string[] = [];
    const conditions: string[] = [];
    idle.forEach((locationId, n) => {
      for (const [field, short] of Object.entries(BUDGET_FIELDS)) {
        names[`#${field}_${n}`] = `${short}#${locationId}`;
        removed.push(`#${field}_${n}`);
      }
      conditions.push(`#tat_${n} < :idleBefore`);
    });
    const pruning = (async () => {
      const { UpdateItemCommand } = await import("@aws-sdk/client-dynamodb");
      const client = await this.#client();
      this.requests.writes += 1;
      this.requests.writeUnits += writeUnits(item);
      await beforeDeadline(Date.now() + 5_000, "removing idle rate budgets", (abortSignal) =>
        client.send(
          new UpdateItemCommand({
            TableName: this.#tableName,
            Key: { pk: { S: pk } },
            UpdateExpression: `REMOVE ${removed.join(", ")}`,
            ConditionExpression: conditions.join(" AND "),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ":idleBefore": num(idleBefore) },
          }),
          { abortSignal },
        ),
      );
    })()
      .catch(() => undefined)
      .finally(() => this.#pruning.delete(pk));
    this.#pruning.set(pk, pruning);
  }

  /**
   * How far ahead of now a booking should start so that its slot has not passed when the write
   * is answered: twice the smoothed answer time, at most `MAX_LEAD_MS`. (Under load an embedded
   * table took longer than a small budget's slack to answer, and every slot it booked came back
   * too late to use.)
   */
  get leadMs(): number {
    return Math.min(MAX_LEAD_MS, 2 * this.#writeMs);
  }

  #timed(sentAt: number): void {
    const took = Date.now() - sentAt;
    this.#writeMs = this.#writeMs === 0 ? took : this.#writeMs * 0.8 + took * 0.2;
  }

  /** One budget's attributes, read consistently. */
  async read(key: string, deadline: number): Promise<Item | undefined> {
    return projectBudget(await this.#readItem(budgetPlace(key).pk, deadline), key);
  }

  async #readItem(pk: string, deadline: number): Promise<Item | undefined> {
    const { GetItemCommand } = await import("@aws-sdk/client-dynamodb");
    const client = await this.#client();
    this.requests.reads += 1;
    const answer = await beforeDeadline(deadline, "reading a rate budget", (abortSignal) =>
      client.send(
        new GetItemCommand({
          TableName: this.#tableName,
          Key: { pk: { S: pk } },
          ConsistentRead: true,
        }),
        { abortSignal },
      ),
    );
    return answer.Item;
  }
}

/** What a write to an item of this size costs: a unit per KB (DynamoDB's rule, names included). */
function writeUnits(item: Item): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    bytes += Buffer.byteLength(name);
    if (value.N !== undefined) bytes += Math.ceil(value.N.replace(/[-.]/g, "").length / 2) + 1;
    else if (value.S !== undefined) bytes += Buffer.byteLength(value.S);
    else bytes += 8;
  }
  return Math.max(1, Math.ceil(bytes / 1024));
}

export function num(value: number): AttributeValue {
  return { N: String(Math.round(value * 1000) / 1000) };
}

export function readNumber(value: AttributeValue | undefined): number | undefined {
  const parsed = value?.N === undefined ? Number.NaN : Number(value.N);
  return Number.isFinite(parsed) ? parsed : undefined;
}
