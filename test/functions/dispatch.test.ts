import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { afterEach, describe, expect, it } from "vitest";
import { budgetPlace } from "../../functions/core/highlevel/fleet-budget.ts";
import { budgetKey } from "../../functions/core/highlevel/highlevel-client.ts";
import type { JobResult } from "../../functions/core/worker/deletion-worker.ts";
import { startEmbeddedDynamoDb } from "../../local/embedded-dynamodb.ts";
import type { SandboxCall } from "../../local/sandbox-api.ts";
import { startWorkerHarness, TEST_TOKEN, type WorkerHarness } from "../helpers/worker-harness.ts";

// "Waiting holds no lane" (DESIGN.md, Dispatch): a job waiting for its location's slot costs a
// timer; the calls in flight are bounded on their own; surplus jobs of a hot location go back.

const stops: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function start(
  options: {
    env?: Record<string, string>;
    latencyMs?: number;
    burst?: { max: number; intervalMs: number };
  } & {
    table?: boolean;
    onSettled?: (result: JobResult) => void;
  } = {},
): Promise<
  WorkerHarness & {
    bookAhead: (locationId: string, atMs: number, spacingMs: number) => Promise<void>;
  }
> {
  const table = options.table ? await startEmbeddedDynamoDb() : undefined;
  if (table) stops.push(() => table.stop());
  const h = await startWorkerHarness({
    env: {
      ...(table && {
        COORDINATION_TABLE: table.tableName,
        AWS_ENDPOINT_URL_DYNAMODB: table.endpoint,
      }),
      ...options.env,
    },
    sandbox: {
      ...(options.latencyMs !== undefined && { latencyMs: options.latencyMs }),
      ...(options.burst && { burst: options.burst }),
    },
    ...(options.onSettled && { overrides: { onSettled: options.onSettled } }),
  });
  stops.push(() => h.stop());
  /** Another container booked `locationId`'s budget until `atMs` from now, a slot every `spacingMs`. */
  const bookAhead = async (locationId: string, atMs: number, spacingMs: number) => {
    if (!table) throw new Error("bookAhead needs the coordination table");
    const place = budgetPlace(budgetKey(locationId, TEST_TOKEN));
    await table.client.send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: { pk: { S: place.pk } },
        UpdateExpression: "SET #tat = :tat, #spacing = :spacing, #slack = :slack",
        ExpressionAttributeNames: {
          "#tat": place.attribute("tat"),
          "#spacing": place.attribute("spacing"),
          "#slack": place.attribute("slack"),
        },
        ExpressionAttributeValues: {
          ":tat": { N: String(Date.now() + atMs) },
          ":spacing": { N: String(spacingMs) },
          // How late a lane may take its slot: generous, so that a busy machine waking a lane
          // late does not make it give up its slot (what these tests check is the order).
          ":slack": { N: String(Math.max(spacingMs, 1_000)) },
        },
      }),
    );
  };
  return { ...h, bookAhead };
}

/** `count` jobs of one location. */
async function sendJobs(h: WorkerHarness, locationId: string, count: number) {
  for (let i = 0; i < count; i++)
    await h.send(h.job(locationId, h.sandbox.addUpload(locationId)._id));
}

/** One job in each of `count` locations named `<prefix><n>`. */
async function sendOneEach(h: WorkerHarness, prefix: string, count: number) {
  for (let i = 0; i < count; i++) await sendJobs(h, `${prefix}${i}`, 1);
}

const deletesTo = (calls: SandboxCall[], pick: (locationId: string) => boolean) =>
  calls.filter((call) => call.method === "DELETE" && pick(call.locationId ?? ""));

/** The most HighLevel requests the sandbox was answering at one moment. */
function mostInFlight(calls: SandboxCall[]): number {
  return Math.max(
    0,
    ...calls.map(
      (call) =>
        calls.filter((other) => other.at <= call.at && (other.answeredAt ?? 0) > call.at).length,
    ),
  );
}

describe("dispatch: waiting for a slot holds no lane", () => {
  it("starts jobs in slot order, not batch order: a free location's jobs go while a booked one's wait", async () => {
    const h = await start({
      table: true,
      env: { WORKER_CONCURRENCY: "1", BUDGET_WAIT_MS: "5000" },
    });
    // Batch order puts the booked location first; with one lane per job it would hold the lane.
    await sendJobs(h, "locBooked", 2);
    await sendOneEach(h, "locFree", 4);
    // Booked 400 ms ahead (once the jobs are queued): past the free jobs, short of the tail
    // release (500 ms).
    await h.bookAhead("locBooked", 400, 100);

    const { response } = await h.deliver();

    expect(response.batchItemFailures).toEqual([]);
    const free = deletesTo(h.sandbox.calls, (l) => l.startsWith("locFree"));
    const booked = deletesTo(h.sandbox.calls, (l) => l === "locBooked");
    expect(free).toHaveLength(4);
    expect(booked).toHaveLength(2);
    const lastFree = Math.max(...free.map((call) => call.at));
    expect(booked.every((call) => call.at > lastFree)).toBe(true);
    expect(h.sandbox.uploads().every((u) => u.status === "deleted")).toBe(true);
  });

  it("keeps at most WORKER_CONCURRENCY calls in flight, and fills them, while many jobs wait for slots", async () => {
    const h = await start({
      table: true,
      latencyMs: 100,
      env: { WORKER_CONCURRENCY: "4", BUDGET_WAIT_MS: "10000" },
    });
    await sendJobs(h, "locBooked", 6);
    await sendOneEach(h, "locFree", 24);
    // Booked a little past when the others are done: they wait, but not long enough to be
    // released. Booked once the jobs are queued, so a slow send on a busy machine eats none of it.
    await h.bookAhead("locBooked", 900, 100);

    const { messages, response } = await h.deliver(60_000, { batchSize: 30 });

    expect(messages).toHaveLength(30);
    expect(response.batchItemFailures).toEqual([]);
    expect(mostInFlight(h.sandbox.calls)).toBe(4);
    const free = deletesTo(h.sandbox.calls, (l) => l.startsWith("locFree"));
    const booked = deletesTo(h.sandbox.calls, (l) => l === "locBooked");
    // The six waiting jobs held none of the four lanes: the 24 others went first, four at a time.
    expect(Math.max(...free.map((c) => c.at))).toBeLessThan(Math.min(...booked.map((c) => c.at)));
    expect(h.sandbox.uploads().filter((u) => u.status === "deleted")).toHaveLength(30);
    expect(h.sandbox.count(429)).toBe(0);
  });

  it("finishes a batch spread over many locations in about one answer time", async () => {
    const h = await start({ latencyMs: 300, env: { WORKER_CONCURRENCY: "50" } });
    await sendOneEach(h, "loc", 20);

    const started = Date.now();
    const { messages, response } = await h.deliver(60_000, { batchSize: 20 });
    const tookMs = Date.now() - started;

    expect(messages).toHaveLength(20);
    expect(response.batchItemFailures).toEqual([]);
    const arrivals = h.sandbox.callsTo("DELETE").map((call) => call.at);
    expect(arrivals).toHaveLength(20);
    // All twenty were sent before the first answer came back (five lanes would take four rounds).
    expect(Math.max(...arrivals) - Math.min(...arrivals)).toBeLessThan(300);
    expect(tookMs).toBeLessThan(1_000);
  });

  it("hands a hot location's surplus back at once — no call, no deferral, no dead letter — and deletes it later", async () => {
    const settled: Array<JobResult & { at: number }> = [];
    const h = await start({
      table: true,
      // 5 calls a second: a slot every 250 ms once the reserve is kept; the horizon is 1 s.
      burst: { max: 5, intervalMs: 1_000 },
      env: { BUDGET_WAIT_MS: "1000" },
      onSettled: (result) => settled.push({ ...result, at: Date.now() }),
    });
    // One job first, so that this container has learnt the location's spacing.
    await h.send(h.job("locHot", h.sandbox.addUpload("locHot")._id));
    await h.deliver(60_000, { visibilitySeconds: 30 });
    settled.length = 0;
    await sendJobs(h, "locHot", 12);
    await sendOneEach(h, "locCold", 3);

    const started = Date.now();
    const { messages, response } = await h.deliver(60_000, { batchSize: 15 });

    expect(messages).toHaveLength(15);
    const handedBack = settled.filter((r) => r.outcome === "handed-back");
    const kept = settled.filter((r) => r.outcome === "deleted");
    // The budget serves about five calls in the next second: the other seven go back unstarted.
    expect(handedBack.length).toBeGreaterThanOrEqual(6);
    expect(kept.length).toBe(15 - handedBack.length);
    expect(handedBack.every((r) => r.calls === 0 && r.at - started < 200)).toBe(true);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      handedBack.map((r) => r.messageId).sort(),
    );
    const queue = h.sqs.server.inspectQueue(h.queues.queueUrl.split("/").pop() as string);
    expect(queue?.messages.inflight).toHaveLength(handedBack.length);
    for (const entry of queue?.messages.inflight ?? []) {
      // Invisible for the horizon (1 s) from when it was handed back, then delivered again.
      const handedBackAt = handedBack.find((r) => r.messageId === entry.message.messageId)?.at;
      expect(entry.visibilityDeadline - (handedBackAt ?? 0)).toBeGreaterThanOrEqual(900);
      expect(entry.message.messageAttributes?.deferrals).toBeUndefined();
    }
    expect(settled.some((r) => r.outcome === "deferred")).toBe(false);

    const giveUpAt = Date.now() + 20_000;
    while (h.pending().length > 0 && Date.now() < giveUpAt) {
      const { messages: more } = await h.deliver(60_000, { batchSize: 15 });
      if (more.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(h.sandbox.uploads().filter((u) => u.status === "deleted")).toHaveLength(16);
    expect(h.deadLetters()).toEqual([]);
    expect(h.sandbox.count(429)).toBe(0);
  });

  it("does not hold the container for one location's far slot once the rest of the batch is done", async () => {
    const settled: JobResult[] = [];
    const h = await start({
      table: true,
      env: { BUDGET_WAIT_MS: "10000" },
      onSettled: (result) => settled.push(result),
    });
    await h.bookAhead("locFar", 3_000, 200);
    await h.send(h.job("locFar", h.sandbox.addUpload("locFar")._id));
    await sendOneEach(h, "locNear", 3);

    const started = Date.now();
    const { response } = await h.deliver(60_000, { visibilitySeconds: 30 });
    const tookMs = Date.now() - started;

    // The three near jobs are deleted; the far one is released half a second later, not in 3 s.
    expect(tookMs).toBeLessThan(2_000);
    expect(settled.filter((r) => r.outcome === "deleted")).toHaveLength(3);
    const far = settled.find((r) => r.outcome === "handed-back");
    expect(far?.calls).toBe(0);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: far?.messageId }]);
    expect(deletesTo(h.sandbox.calls, (l) => l === "locFar")).toHaveLength(0);
    expect(h.deadLetters()).toEqual([]);
    expect(h.pending()).toHaveLength(1);
  });

  it("with many jobs waiting, starts no call too late for its answer and answers Lambda before the deadline", async () => {
    const settled: JobResult[] = [];
    const h = await start({
      table: true,
      // A slot every 500 ms: thirty jobs would need 15 s; the invocation has 3 s.
      burst: { max: 3, intervalMs: 1_000 },
      env: { BUDGET_WAIT_MS: "60000" },
      onSettled: (result) => settled.push(result),
    });
    await sendJobs(h, "locA", 30);

    const started = Date.now();
    const { messages, response } = await h.deliver(3_000, { batchSize: 30 });
    const tookMs = Date.now() - started;

    expect(messages).toHaveLength(30);
    expect(tookMs).toBeLessThan(3_000);
    // 3 s: work stops 600 ms before the end, and no call starts in the last 750 ms of work.
    const startBy = started + 3_000 - 600 - 750;
    const deletes = h.sandbox.callsTo("DELETE");
    expect(deletes.length).toBeGreaterThan(0);
    expect(deletes.every((call) => call.at <= startBy + 50)).toBe(true);
    const deleted = settled.filter((r) => r.outcome === "deleted").length;
    expect(deleted).toBe(deletes.length);
    // Nothing lost: every job not deleted is back on the queue, none parked.
    expect(response.batchItemFailures).toHaveLength(30 - deleted);
    expect(h.pending()).toHaveLength(30 - deleted);
    expect(h.deadLetters()).toHaveLength(0);
    expect(
      settled.every((r) => ["deleted", "handed-back", "redelivered"].includes(r.outcome)),
    ).toBe(true);
    expect(h.sandbox.count(429)).toBe(0);
  });
});
