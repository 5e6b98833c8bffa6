import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";

/** Who may refresh a secret's tokens right now: one holder at a time, for a bounded time. */
export interface RefreshLease {
  /** Takes the lease for `ttlMs` unless another holder has it; true when taken. */
  take(owner: string, ttlMs: number): Promise<boolean>;
  release(owner: string): Promise<void>;
}

/** The refresh lease's item in the coordination table (DESIGN.md). */
export function refreshLeaseKey(secretId: string): string {
  return `lock#refresh#${secretId}`;
}

/**
 * The lease as a conditional put in the coordination table: taken when no item exists or the
 * last holder's lease has run out; released by deleting it only if we still hold it.
 */
export function dynamoRefreshLease(
  client: DynamoDBClient,
  tableName: string,
  secretId: string,
): RefreshLease {
  const key = { pk: { S: refreshLeaseKey(secretId) } };
  return {
    take: async (owner, ttlMs) => {
      const { PutItemCommand } = await import("@aws-sdk/client-dynamodb");
      const now = Date.now();
      try {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: {
              ...key,
              owner: { S: owner },
              expiresAt: { N: String(now + ttlMs) },
              ttl: { N: String(Math.ceil((now + ttlMs) / 1000) + 3600) },
            },
            ConditionExpression: "attribute_not_exists(pk) OR expiresAt < :now",
            ExpressionAttributeValues: { ":now": { N: String(now) } },
          }),
        );
        return true;
      } catch (error) {
        if ((error as { name?: string }).name === "ConditionalCheckFailedException") return false;
        throw error;
      }
    },
    release: async (owner) => {
      const { DeleteItemCommand } = await import("@aws-sdk/client-dynamodb");
      try {
        await client.send(
          new DeleteItemCommand({
            TableName: tableName,
            Key: key,
            ConditionExpression: "#owner = :owner",
            ExpressionAttributeNames: { "#owner": "owner" },
            ExpressionAttributeValues: { ":owner": { S: owner } },
          }),
        );
      } catch (error) {
        // Our lease ran out and another holder has it now: theirs to release.
        if ((error as { name?: string }).name !== "ConditionalCheckFailedException") throw error;
      }
    },
  };
}

/**
 * The lease as a lock file beside a token file (local runs): created exclusively, taken over
 * when its holder's time has run out, removed on release.
 */
export function fileRefreshLease(tokenFile: string): RefreshLease {
  const lockPath = `${tokenFile}.refresh-lock`;
  return {
    take: async (owner, ttlMs) => {
      const { open, readFile, rm } = await import("node:fs/promises");
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const handle = await open(lockPath, "wx", 0o600);
          await handle.writeFile(JSON.stringify({ owner, expiresAt: Date.now() + ttlMs }));
          await handle.close();
          return true;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
          const held = JSON.parse(await readFile(lockPath, "utf8").catch(() => "{}")) as {
            expiresAt?: number;
          };
          // No time in it yet: its holder is still writing it.
          if (held.expiresAt === undefined || held.expiresAt >= Date.now()) return false;
          // The last holder's lease ran out (it crashed): take it over.
          await rm(lockPath, { force: true });
        }
      }
      return false;
    },
    release: async (owner) => {
      const { readFile, rm } = await import("node:fs/promises");
      const held = JSON.parse(await readFile(lockPath, "utf8").catch(() => "{}")) as {
        owner?: string;
      };
      if (held.owner === owner) await rm(lockPath, { force: true });
    },
  };
}
