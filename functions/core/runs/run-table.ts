import type { AttributeValue, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { beforeDeadline } from "../deadline.ts";
import { FAILURE_REASONS, type FailureReason } from "../worker/outcome.ts";
import { type RunSource, UNLABELLED_RUN } from "./run-id.ts";
import { emptyCounts, type RunCounts, type RunRecord } from "./run-record.ts";

/** How long run records (and, in the stack, result objects) are kept: `reportRetention`. */
export const DEFAULT_REPORT_RETENTION_DAYS = 90;

/** A change to a run's counts: one invocation's settled jobs (negative to undo a dead letter). */
export type CountsDelta = Partial<Omit<RunCounts, "deadLetteredByReason">> & {
  deadLetteredByReason?: Partial<Record<FailureReason, number>>;
};

type Item = Record<string, AttributeValue>;

const COUNTERS = [
  "deleted",
  "alreadyAbsent",
  "deadLettered",
  "duplicates",
  "resultsMissing",
] as const;

/** The table key of a run's record. */
export function runItemKey(runId: string): string {
  return `run#${runId}`;
}

/** The source of a run whose record a worker creates before its producer does. */
export function sourceOfRunId(runId: string): RunSource | string {
  if (runId === UNLABELLED_RUN) return "unlabelled";
  return runId.split("-", 1)[0] ?? "unknown";
}

/**
 * Run records in the coordination table (`pk = "run#<runId>"`): the producer opens a run and
 * writes its total when it has sent everything; each worker invocation adds what it settled,
 * one update per run. Counters are DynamoDB `ADD`s, so concurrent invocations never lose one.
 */
export class RunTable {
  readonly #client: () => Promise<DynamoDBClient>;
  readonly #tableName: string;
  readonly #retentionDays: number;

  constructor(
    client: () => Promise<DynamoDBClient>,
    tableName: string,
    retentionDays = DEFAULT_REPORT_RETENTION_DAYS,
  ) {
    this.#client = client;
    this.#tableName = tableName;
    this.#retentionDays = retentionDays;
  }

  /** Opens (or, resuming, reopens) a run: `enqueuing` until `closeEnqueue`. */
  async openRun(runId: string, details: { source: RunSource; label?: string }): Promise<void> {
    const now = new Date();
    await this.#update(
      runId,
      "SET runId = :runId, #source = :source, createdAt = if_not_exists(createdAt, :now), enqueuing = :true, #ttl = if_not_exists(#ttl, :ttl)" +
        (details.label ? ", label = :label" : ""),
      {
        ":runId": { S: runId },
        ":source": { S: details.source },
        ":now": { S: now.toISOString() },
        ":true": { BOOL: true },
        ":ttl": { N: String(this.#expiry(now)) },
        ...(details.label && { ":label": { S: details.label } }),
      },
      { "#source": "source", "#ttl": "ttl" },
    );
  }

  /** The producer has sent `sent` more jobs and is done: adds them to the run's total. */
  async closeEnqueue(runId: string, sent: number): Promise<void> {
    await this.#update(
      runId,
      "SET enqueuing = :false, enqueuedAt = :now ADD #total :sent",
      {
        ":false": { BOOL: false },
        ":now": { S: new Date().toISOString() },
        ":sent": { N: String(sent) },
      },
      { "#total": "total" },
    );
  }

  /** Adds one invocation's settled jobs to a run's counts, by `deadline`. */
  async addSettlements(runId: string, delta: CountsDelta, deadline?: number): Promise<void> {
    const now = new Date();
    const adds: string[] = [];
    const values: Item = {
      ":now": { S: now.toISOString() },
      ":ttl": { N: String(this.#expiry(now)) },
      ":runId": { S: runId },
      ":source": { S: sourceOfRunId(runId) },
      ":created": { S: now.toISOString() },
    };
    for (const counter of COUNTERS) {
      const value = delta[counter];
      if (value) {
        adds.push(`${counter} :${counter}`);
        values[`:${counter}`] = { N: String(value) };
      }
    }
    for (const reason of FAILURE_REASONS) {
      const value = delta.deadLetteredByReason?.[reason];
      if (value) {
        const name = reasonAttribute(reason);
        adds.push(`${name} :${name}`);
        values[`:${name}`] = { N: String(value) };
      }
    }
    const expression =
      "SET lastSettledAt = :now, firstSettledAt = if_not_exists(firstSettledAt, :now), #ttl = if_not_exists(#ttl, :ttl), runId = :runId, #source = if_not_exists(#source, :source), createdAt = if_not_exists(createdAt, :created)" +
      (adds.length ? ` ADD ${adds.join(", ")}` : "");
    await this.#update(runId, expression, values, { "#ttl": "ttl", "#source": "source" }, deadline);
  }

  /** A purge that could not plan every location: how many it left for its next run. */
  async noteUnreached(runId: string, locationIds: string[]): Promise<void> {
    await this.#update(
      runId,
      "SET unreachedLocations = :count, unreached = :ids",
      {
        ":count": { N: String(locationIds.length) },
        ":ids": { L: locationIds.slice(0, 100).map((id) => ({ S: id })) },
      },
      {},
    );
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const { GetItemCommand } = await import("@aws-sdk/client-dynamodb");
    const client = await this.#client();
    const { Item: item } = await client.send(
      new GetItemCommand({
        TableName: this.#tableName,
        Key: { pk: { S: runItemKey(runId) } },
        ConsistentRead: true,
      }),
    );
    return item ? toRunRecord(item) : undefined;
  }

  /**
   * Every run record, newest first. The table has no sort key: this scans it (it holds a few
   * items per location and per run, so a scan reads little).
   */
  async listRuns(limit = 20): Promise<RunRecord[]> {
    const { ScanCommand } = await import("@aws-sdk/client-dynamodb");
    const client = await this.#client();
    const runs: RunRecord[] = [];
    let startKey: Item | undefined;
    do {
      const page = await client.send(
        new ScanCommand({
          TableName: this.#tableName,
          FilterExpression: "begins_with(pk, :prefix)",
          ExpressionAttributeValues: { ":prefix": { S: "run#" } },
          ...(startKey && { ExclusiveStartKey: startKey }),
        }),
      );
      for (const item of page.Items ?? []) runs.push(toRunRecord(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return runs.sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, limit);
  }

  #expiry(from: Date): number {
    return Math.floor(from.getTime() / 1000) + this.#retentionDays * 86_400;
  }

  async #update(
    runId: string,
    expression: string,
    values: Item,
    names: Record<string, string>,
    deadline = Date.now() + 10_000,
  ): Promise<void> {
    const { UpdateItemCommand } = await import("@aws-sdk/client-dynamodb");
    const client = await this.#client();
    await beforeDeadline(deadline, "updating the run record", (abortSignal) =>
      client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: { pk: { S: runItemKey(runId) } },
          UpdateExpression: expression,
          ExpressionAttributeValues: values,
          ...(Object.keys(names).length > 0 && { ExpressionAttributeNames: names }),
        }),
        { abortSignal },
      ),
    );
  }
}

function reasonAttribute(reason: FailureReason): string {
  return `dl_${reason.replace(/-/g, "_")}`;
}

function toRunRecord(item: Item): RunRecord {
  const number = (name: string) => Number(item[name]?.N ?? 0);
  const text = (name: string) => item[name]?.S;
  const counts = emptyCounts();
  for (const counter of COUNTERS) counts[counter] = number(counter);
  for (const reason of FAILURE_REASONS) {
    const value = number(reasonAttribute(reason));
    if (value) counts.deadLetteredByReason[reason] = value;
  }
  const runId = text("runId") ?? (text("pk") ?? "").replace(/^run#/, "");
  const label = text("label");
  const firstSettledAt = text("firstSettledAt");
  const lastSettledAt = text("lastSettledAt");
  return {
    runId,
    source: text("source") ?? sourceOfRunId(runId),
    ...(label && { label }),
    createdAt: text("createdAt") ?? "",
    ...(item.total?.N !== undefined && { total: number("total") }),
    enqueuing: item.enqueuing?.BOOL === true,
    counts,
    ...(firstSettledAt && { firstSettledAt }),
    ...(lastSettledAt && { lastSettledAt }),
    ...(item.unreachedLocations?.N !== undefined && {
      unreachedLocations: number("unreachedLocations"),
    }),
  };
}

/** A run table for a table name (the SDK's default client), a name and a client, or as is. */
export function runTableFor(
  table: string | { tableName: string; client: DynamoDBClient } | RunTable,
): RunTable {
  if (table instanceof RunTable) return table;
  if (typeof table === "string") {
    return new RunTable(async () => {
      const { DynamoDBClient } = await import("@aws-sdk/client-dynamodb");
      return new DynamoDBClient({});
    }, table);
  }
  return new RunTable(async () => table.client, table.tableName);
}
