import type { AttributeValue, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { beforeDeadline } from "../deadline.ts";

/** The share of each window the fleet leaves unspent (at least one call): the room for late calls. */
const RESERVE_SHARE = 0.02;

/**
 * How a budget of `max` calls per `intervalMs` is spent: one slot every `spacingMs`, leaving
 * 2% of the window (at least one call) unspent; a call may be made up to `slackMs` after its
 * slot, since the calls that lateness can add to one window are no more than that reserve.
 * (Keeping half a spacing of it back for the send was tried in issue #27: it cost the 20 ms
 * cases up to 0.07 of their ceiling in slots woken "late" and drew no fewer 429s.)
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

/** The most a booking starts ahead of now for the table's answer time. */
const MAX_LEAD_MS = 1_000;

/** Budget items outlive any window by far; TTL removes those of locations no longer worked. */
const ITEM_LIFETIME_SECONDS = 2 * 24 * 3600;

type Item = Record<string, AttributeValue>;

/**
 * The coordination table's budget items (`pk = "budget#<locationId>#<token fingerprint>"`):
 * conditional updates that return the item (as it stood, when the condition failed) and
 * consistent reads, each bounded by a deadline, counted for the cost model.
 */
export class BudgetTable {
  readonly requests = { writes: 0, reads: 0, conflicts: 0, staleSlots: 0 };
  /** How long a write takes to be answered, smoothed (ms): bookings start this far ahead. */
  #writeMs = 0;
  readonly #client: () => Promise<DynamoDBClient>;
  readonly #tableName: string;

  constructor(client: () => Promise<DynamoDBClient>, tableName: string) {
    this.#client = client;
    this.#tableName = tableName;
  }

  /** A conditional update: the item after it, or as it stood when the condition failed. */
  async update(
    key: string,
    expression: string,
    values: Record<string, AttributeValue>,
    condition: string | undefined,
    deadline: number,
  ): Promise<{ ok: true; item: Item } | { ok: false; item: Item | undefined }> {
    const { UpdateItemCommand } = await import("@aws-sdk/client-dynamodb");
    const client = await this.#client();
    this.requests.writes += 1;
    const sentAt = Date.now();
    try {
      const answer = await beforeDeadline(deadline, "taking a rate permit", (abortSignal) =>
        client.send(
          new UpdateItemCommand({
            TableName: this.#tableName,
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
      this.#timed(sentAt);
      return { ok: true, item: answer.Attributes ?? {} };
    } catch (error) {
      if ((error as { name?: string }).name === "ConditionalCheckFailedException") {
        this.#timed(sentAt);
        this.requests.conflicts += 1;
        return { ok: false, item: (error as { Item?: Item }).Item };
      }
      throw error;
    }
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

  async read(key: string, deadline: number): Promise<Item | undefined> {
    const { GetItemCommand } = await import("@aws-sdk/client-dynamodb");
    const client = await this.#client();
    this.requests.reads += 1;
    const answer = await beforeDeadline(deadline, "reading a rate budget", (abortSignal) =>
      client.send(
        new GetItemCommand({
          TableName: this.#tableName,
          Key: { pk: { S: budgetItemKey(key) } },
          ConsistentRead: true,
        }),
        { abortSignal },
      ),
    );
    return answer.Item;
  }
}

/** The coordination table's key for a budget key (`<locationId>:<fingerprint>`). */
export function budgetItemKey(key: string): string {
  return `budget#${key.replace(":", "#")}`;
}

export function num(value: number): AttributeValue {
  return { N: String(Math.round(value * 1000) / 1000) };
}

export function readNumber(value: AttributeValue | undefined): number | undefined {
  const parsed = value?.N === undefined ? Number.NaN : Number(value.N);
  return Number.isFinite(parsed) ? parsed : undefined;
}
