import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";

/** A cursor outlives a few missed schedules, not forever. */
const CURSOR_LIFETIME_SECONDS = 30 * 24 * 3600;

/**
 * Where a scheduled purge keeps the locations it did not reach (`purge#<name>` in the
 * coordination table), so that its next run starts with them: a schedule over more locations
 * than one run can plan still covers them all, in turn.
 */
export class PurgeCursor {
  readonly #client: () => Promise<DynamoDBClient>;
  readonly #tableName: string;

  constructor(client: () => Promise<DynamoDBClient>, tableName: string) {
    this.#client = client;
    this.#tableName = tableName;
  }

  /** The locations the last run of `name` left for this one (none when it reached them all). */
  async pending(name: string): Promise<string[]> {
    const { GetItemCommand } = await import("@aws-sdk/client-dynamodb");
    const { Item } = await (await this.#client()).send(
      new GetItemCommand({
        TableName: this.#tableName,
        Key: { pk: { S: cursorKey(name) } },
        ConsistentRead: true,
      }),
    );
    return (Item?.pending?.L ?? []).flatMap((value) => (value.S ? [value.S] : []));
  }

  /** Remembers what this run left (an empty list clears it). */
  async leave(name: string, locationIds: string[]): Promise<void> {
    const { UpdateItemCommand } = await import("@aws-sdk/client-dynamodb");
    const client = await this.#client();
    const key = { pk: { S: cursorKey(name) } };
    if (locationIds.length === 0) {
      await client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: key,
          UpdateExpression: "REMOVE pending SET updatedAt = :now",
          ExpressionAttributeValues: { ":now": { S: new Date().toISOString() } },
        }),
      );
      return;
    }
    await client.send(
      new UpdateItemCommand({
        TableName: this.#tableName,
        Key: key,
        UpdateExpression: "SET pending = :pending, updatedAt = :now, #ttl = :ttl",
        ExpressionAttributeNames: { "#ttl": "ttl" },
        ExpressionAttributeValues: {
          ":pending": { L: locationIds.map((id) => ({ S: id })) },
          ":now": { S: new Date().toISOString() },
          ":ttl": { N: String(Math.floor(Date.now() / 1000) + CURSOR_LIFETIME_SECONDS) },
        },
      }),
    );
  }
}

function cursorKey(name: string): string {
  return `purge#${name}`;
}
