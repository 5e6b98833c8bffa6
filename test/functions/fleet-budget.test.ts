import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { afterEach, describe, expect, it } from "vitest";
import { startLatencyProxy } from "../../bench/latency-proxy.ts";
import { BRIDGE_MS } from "../../functions/core/highlevel/budget-leases.ts";
import { BudgetTable, num } from "../../functions/core/highlevel/budget-table.ts";
import {
  budgetPlace,
  budgetSchedule,
  FleetBudget,
} from "../../functions/core/highlevel/fleet-budget.ts";
import { RatePacer } from "../../functions/core/highlevel/rate-pacer.ts";
import { takeSlots, unknownBudget } from "../../functions/core/highlevel/slot-booking.ts";
import { createDeleteCsvHandler } from "../../functions/delete-csv/create-handler.ts";
import {
  createLocalDynamoDbClient,
  type EmbeddedDynamoDb,
  startEmbeddedDynamoDb,
} from "../../local/embedded-dynamodb.ts";
import { ROOT } from "../helpers/run-cli.ts";

let table: EmbeddedDynamoDb | undefined;
afterEach(async () => {
  await table?.stop();
  table = undefined;
});

function budgetOn(db: EmbeddedDynamoDb, onFallback?: (error: unknown) => void) {
  const client = createLocalDynamoDbClient(db.endpoint);
  return new FleetBudget({
    client: async () => client,
    tableName: db.tableName,
    fallback: new RatePacer(),
    ...(onFallback && { onFallback }),
  });
}

interface ContainerRun {
  grants: number[];
  slots: number[];
  requests: { writes: number; reads: number };
}

/**
 * `count` containers, each in its own process, started together: each says when it has booted,
 * and all are told to go once every one has (a fixed start time fails on a busy machine).
 */
async function runContainers(
  count: number,
  db: EmbeddedDynamoDb,
  key: string,
  permits: number,
  batch = 1,
): Promise<ContainerRun[]> {
  const children = Array.from({ length: count }, () => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        join(ROOT, "test/helpers/budget-process.ts"),
        db.endpoint,
        db.tableName,
        key,
        String(permits),
        String(batch),
      ],
      { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] },
    );
    let out = "";
    let announceReady = () => {};
    const ready = new Promise<void>((resolve) => {
      announceReady = resolve;
    });
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.startsWith("ready\n")) announceReady();
    });
    const done = new Promise<ContainerRun>((resolve, reject) =>
      child.on("close", (code) =>
        code === 0
          ? resolve(JSON.parse(out.slice("ready\n".length)))
          : reject(new Error(`container exited ${code}`)),
      ),
    );
    return { child, ready, done };
  });
  await Promise.all(children.map(({ ready }) => ready));
  for (const { child } of children) child.stdin.write("go\n");
  return Promise.all(children.map(({ done }) => done));
}

/** The most grants in any window of `windowMs`. */
function busiestWindow(grants: number[], windowMs: number): number {
  const sorted = [...grants].sort((a, b) => a - b);
  let most = 0;
  for (let start = 0, end = 0; end < sorted.length; end++) {
    while ((sorted[end] as number) - (sorted[start] as number) >= windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

describe("budgetSchedule", () => {
  it.each([
    [50, 2_000, 49, 1],
    [10, 1_000, 9, 1],
    [20, 10_000, 19, 1],
    [100, 10_000, 97, 2],
    [1_000_000, 10_000, 970_000, 20_000],
  ])(
    "spends %i calls / %i ms as %i evenly spaced slots, late by at most %i spacings",
    (max, intervalMs, calls, lateSpacings) => {
      const { spacingMs, slackMs } = budgetSchedule(max, intervalMs);
      // Just under `calls` slots fit in one window: never `calls` + 1.
      expect(intervalMs / spacingMs).toBeLessThan(calls);
      expect(intervalMs / spacingMs).toBeGreaterThan(calls * 0.9998);
      expect(Math.round(slackMs / spacingMs)).toBe(lateSpacings);
      // What lateness adds to a window stays within the budget, with room for the way there.
      expect(calls + lateSpacings).toBeLessThanOrEqual(max);
    },
  );

  it("gives a one-call budget its whole window and half a spacing of slack", () => {
    expect(budgetSchedule(1, 1_000)).toEqual({ spacingMs: 1_000.1, slackMs: 500.05 });
  });
});

describe("FleetBudget: one budget for the fleet, in the coordination table", () => {
  it.each([
    ["one call at a time", 1],
    ["batches of 3 booked at once", 3],
  ])(
    "never grants more than max − reserve per window to four containers in separate processes (%s)",
    async (_, batch) => {
      table = await startEmbeddedDynamoDb();
      const key = "locA:fingerprint1";
      // What HighLevel's first answer taught: 10 calls per 1 s window.
      const teacher = budgetOn(table);
      teacher.observe(key, 200, { max: 10, remaining: 9, intervalMs: 1_000 }, Date.now());
      await teacher.flush();

      const containers = await runContainers(4, table, key, 9, batch);
      const grants = containers.flatMap((c) => c.grants);
      const slots = containers.flatMap((c) => c.slots);

      expect(grants).toHaveLength(36);
      // The budget hands out 9 slots (10 less the one in reserve) in any window …
      expect(busiestWindow(slots, 1_000)).toBeLessThanOrEqual(9);
      // … and however late a busy machine wakes a container for its slot, never more than the max.
      expect(busiestWindow(grants, 1_000)).toBeLessThanOrEqual(10);
      // Slots are evenly spaced, a ninth of the window apart.
      const span = Math.max(...slots) - Math.min(...slots);
      expect(span).toBeGreaterThanOrEqual(35 * (1_000 / 9) - 5);
      // No container fought the others for long: a write per permit plus the conflicts of
      // containers asking at once (more of them when a busy machine bunches the askers: 1.83
      // seen beside three test files), never a fight that costs many writes a permit. The
      // ratio itself is the bench's (table writes per deletion).
      const writes = containers.reduce((sum, c) => sum + c.requests.writes, 0);
      expect(writes / grants.length).toBeLessThan(3);
    },
  );

  it("grants a large budget's permits at once, one write each, however tiny its spacing", async () => {
    table = await startEmbeddedDynamoDb();
    const key = "locA:fingerprint1";
    const budget = budgetOn(table);
    budget.observe(
      key,
      200,
      { max: 1_000_000, remaining: 999_999, intervalMs: 10_000 },
      Date.now(),
    );
    await budget.flush();
    const writesBefore = budget.requests.writes;

    const permits = [];
    for (let n = 0; n < 200; n++)
      permits.push(await budget.acquire(key, Date.now() + 5_000, 1_000));

    expect(permits.every((permit) => permit.granted)).toBe(true);
    expect(budget.requests.staleSlots).toBe(0);
    expect(budget.requests.writes - writesBefore).toBeLessThanOrEqual(240);
  });

  it("takes a slot at once from a budget gone idle since this container last saw it booked", async () => {
    table = await startEmbeddedDynamoDb();
    const key = "locA:fingerprint1";
    const budget = budgetOn(table);
    budget.observe(key, 200, { max: 10, remaining: 9, intervalMs: 1_000 }, Date.now());
    await budget.flush();
    for (let n = 0; n < 5; n++) await budget.acquire(key, Date.now() + 5_000, 1_000);
    // The budget idles: its next slot lies in the past, which this container has not seen.
    const { UpdateItemCommand } = await import("@aws-sdk/client-dynamodb");
    await createLocalDynamoDbClient(table.endpoint).send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: { pk: { S: budgetPlace(key).pk } },
        UpdateExpression: "SET #tat = :past",
        ExpressionAttributeNames: { "#tat": budgetPlace(key).attribute("tat") },
        ExpressionAttributeValues: { ":past": { N: String(Date.now() - 10_000) } },
      }),
    );
    const before = { ...budget.requests };

    const permit = await budget.acquire(key, Date.now() + 5_000, 1_000);

    expect(permit.granted).toBe(true);
    // At most one wrong guess (a failed write and a read), then the slot.
    expect(budget.requests.writes - before.writes).toBeLessThanOrEqual(2);
    expect(budget.requests.reads - before.reads).toBeLessThanOrEqual(1);
  });

  it("books each batch of a budget it alone spends in one write: its own past booking is not someone else's", async () => {
    table = await startEmbeddedDynamoDb();
    const key = "locA:fingerprint1";
    const budget = budgetOn(table);
    // Spent near its limit (a low remaining): booked batch by batch, never leased.
    budget.observe(key, 200, { max: 50, remaining: 5, intervalMs: 1_000 }, Date.now());
    await budget.flush();
    const before = { ...budget.requests };

    for (let batch = 0; batch < 3; batch++) {
      budget.expect("locA", 10);
      const permits = await Promise.all(
        Array.from({ length: 10 }, () => budget.acquire(key, Date.now() + 10_000, 5_000)),
      );
      expect(permits.every((permit) => permit.granted)).toBe(true);
      budget.observe(key, 200, { max: 50, remaining: 5, intervalMs: 1_000 }, Date.now());
      // Between two batches (results written, the next one gathered) the budget idles.
      await new Promise((resolve) => setTimeout(resolve, 150));
    }

    // A wrong "someone else is booking it" guess would cost a failed write (and a read here,
    // where the table does not return the item) before every batch's first call.
    expect(budget.requests.conflicts - before.conflicts).toBe(0);
    expect(budget.requests.reads - before.reads).toBe(0);
    // One write a batch; a slot a busy machine woke too late for is booked again.
    const stale = budget.requests.staleSlots - before.staleSlots;
    expect(budget.requests.writes - before.writes).toBeGreaterThanOrEqual(3);
    expect(budget.requests.writes - before.writes).toBeLessThanOrEqual(3 + stale);
  });

  it("bridges a budget it alone books to its next batch: that batch's first call needs no write", async () => {
    table = await startEmbeddedDynamoDb();
    const key = "locA:fingerprint1";
    const budget = budgetOn(table);
    const strict = { max: 50, remaining: 5, intervalMs: 1_000 };
    budget.observe(key, 200, strict, Date.now());
    await budget.flush();
    const batch = async () => {
      budget.expect("locA", 20);
      const permits = await Promise.all(
        Array.from({ length: 20 }, () => budget.acquire(key, Date.now() + 10_000, 5_000)),
      );
      expect(permits.every((permit) => permit.granted)).toBe(true);
      budget.observe(key, 200, strict, Date.now());
      return permits.map((permit) => (permit.granted ? (permit.slotAt ?? 0) : 0));
    };
    // Over a window of batches booked by nobody else: the budget is known to be uncontested
    // (the last batch, 400 ms of slots, starts more than a window after the first).
    const started = Date.now();
    let lastSlots: number[] = [];
    while (Date.now() - started < 1_500) lastSlots = await batch();
    // Results written, the next batch gathered: the container makes no calls for a while.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const writesBefore = budget.requests.writes;

    budget.expect("locA", 20);
    const first = await budget.acquire(key, Date.now() + 10_000, 5_000);

    expect(first.granted).toBe(true);
    expect(budget.requests.writes).toBe(writesBefore);
    // Its slot was booked with the last batch, a few spacings after that batch's last call.
    const { spacingMs } = budgetSchedule(50, 1_000);
    const slot = (first as { slotAt: number }).slotAt;
    expect(slot - Math.max(...lastSlots)).toBeGreaterThan(spacingMs / 2);
    expect(slot - Math.max(...lastSlots)).toBeLessThan(BRIDGE_MS + spacingMs);
  });

  it("bridges no contested budget: two containers' batches follow each other slot after slot", async () => {
    table = await startEmbeddedDynamoDb();
    const key = "locA:fingerprint1";
    const [one, other] = [budgetOn(table), budgetOn(table)] as const;
    const strict = { max: 50, remaining: 5, intervalMs: 1_000 };
    one.observe(key, 200, strict, Date.now());
    await one.flush();
    const { spacingMs } = budgetSchedule(50, 1_000);
    const batches: Promise<number[]>[] = [];
    const started = Date.now();
    // The containers take turns for more than a window, each booking its batch of 40 while the
    // other's last batch still holds 10 or more slots ahead: each booking finds the other's.
    for (let turn = 0; Date.now() - started < 1_500; turn++) {
      const budget = turn % 2 === 0 ? one : other;
      budget.expect("locA", 40);
      let granted = 0;
      let thirty = () => {};
      const thirtiethGranted = new Promise<void>((resolve) => {
        thirty = resolve;
      });
      const permits = Array.from({ length: 40 }, async () => {
        const permit = await budget.acquire(key, Date.now() + 30_000, 20_000);
        if (++granted === 30) thirty();
        budget.observe(key, 200, strict, Date.now());
        return permit.granted ? (permit.slotAt ?? Number.NaN) : Number.NaN;
      });
      batches.push(Promise.all(permits));
      await thirtiethGranted;
    }
    const slots = (await Promise.all(batches)).flat().sort((a, b) => a - b);

    expect(slots.every(Number.isFinite)).toBe(true);
    // A bridge (250 ms of slots past a batch) would leave a gap before the other's next batch;
    // a slot a busy machine woke its lane too late for leaves a hole of a spacing or a few.
    const gaps = slots.slice(1).map((slot, n) => slot - (slots[n] as number));
    expect(Math.max(...gaps)).toBeLessThan(BRIDGE_MS);
    const item = await new BudgetTable(
      async () => createLocalDynamoDbClient(table?.endpoint ?? ""),
      table.tableName,
    ).read(key, Date.now() + 5_000);
    expect(Number(item?.tat?.N) - (slots.at(-1) as number)).toBeCloseTo(spacingMs, 0);
  });

  it("books a batch's slots for a location in one write, evenly spaced", async () => {
    table = await startEmbeddedDynamoDb();
    const key = "locA:fingerprint1";
    const budget = budgetOn(table);
    budget.observe(key, 200, { max: 50, remaining: 49, intervalMs: 2_000 }, Date.now());
    await budget.flush();
    const writesBefore = budget.requests.writes;

    budget.expect("locA", 8);
    // Five lanes ask at once, then three more: the batch's eight jobs.
    const first = await Promise.all(
      [1, 2, 3, 4, 5].map(() => budget.acquire(key, Date.now() + 5_000, 1_000)),
    );
    const rest = await Promise.all(
      [1, 2, 3].map(() => budget.acquire(key, Date.now() + 5_000, 1_000)),
    );
    const slots = [...first, ...rest].map((p) => (p.granted ? p.slotAt : Number.NaN));

    expect(slots.every(Number.isFinite)).toBe(true);
    expect(budget.requests.writes - writesBefore).toBe(1);
    const { spacingMs } = budgetSchedule(50, 2_000);
    const sorted = [...slots].sort((a, b) => (a as number) - (b as number)) as number[];
    for (let n = 1; n < sorted.length; n++) {
      expect((sorted[n] as number) - (sorted[n - 1] as number)).toBeCloseTo(spacingMs, 0);
    }
    // With nothing more expected, the next call books one slot again.
    await budget.acquire(key, Date.now() + 5_000, 1_000);
    expect(budget.requests.writes - writesBefore).toBe(2);
  });

  it("books a batch over 60 locations in one write per shard item, each location evenly spaced", async () => {
    table = await startEmbeddedDynamoDb();
    const budget = budgetOn(table);
    const locations = Array.from({ length: 60 }, (_, n) => `agencyLoc${n}`);
    const keyOf = (location: string) => `${location}:fingerprint1`;
    for (const location of locations) {
      budget.observe(
        keyOf(location),
        200,
        { max: 20, remaining: 19, intervalMs: 2_000 },
        Date.now(),
      );
    }
    await budget.flush();
    const before = { ...budget.requests };
    const shards = new Set(locations.map((location) => budgetPlace(keyOf(location)).pk));

    // A batch: two jobs of each location, every job asking at once.
    for (const location of locations) budget.expect(location, 2);
    const permits = await Promise.all(
      locations.flatMap((location) =>
        [1, 2].map(async () => ({
          location,
          permit: await budget.acquire(keyOf(location), Date.now() + 5_000, 3_000),
        })),
      ),
    );

    expect(permits.every(({ permit }) => permit.granted)).toBe(true);
    // One write per shard item the batch touches (16 at most), not one per location (60); a
    // slot a busy machine woke its lane too late for is booked again (125 stale slots and 49
    // writes seen beside three busy cores), and no write failed.
    expect(shards.size).toBeLessThanOrEqual(16);
    const writes = budget.requests.writes - before.writes;
    const stale = budget.requests.staleSlots - before.staleSlots;
    expect(budget.requests.conflicts - before.conflicts).toBe(0);
    expect(writes).toBeGreaterThanOrEqual(shards.size);
    expect(writes).toBeLessThanOrEqual(shards.size + stale);
    const { spacingMs } = budgetSchedule(20, 2_000);
    for (const location of locations) {
      const slots = permits
        .filter((p) => p.location === location)
        .map(({ permit }) => (permit.granted ? permit.slotAt : Number.NaN))
        .sort((a, b) => (a ?? 0) - (b ?? 0));
      expect((slots[1] as number) - (slots[0] as number)).toBeCloseTo(spacingMs, 0);
    }
  });

  it("removes a location nobody booked for two days from its shard item, and keeps the others", async () => {
    table = await startEmbeddedDynamoDb();
    const budget = budgetOn(table);
    const keyOf = (location: string) => `${location}:fingerprint1`;
    // Two locations that share a shard item.
    const active = "activeLoc";
    const shard = budgetPlace(keyOf(active)).pk;
    let idle = "idleLoc0";
    for (let n = 1; budgetPlace(keyOf(idle)).pk !== shard; n++) idle = `idleLoc${n}`;
    const place = budgetPlace(keyOf(idle));
    const client = createLocalDynamoDbClient(table.endpoint);
    await client.send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: { pk: { S: shard } },
        UpdateExpression: "SET #tat = :old, #spacing = :spacing",
        ExpressionAttributeNames: {
          "#tat": place.attribute("tat"),
          "#spacing": place.attribute("spacing"),
        },
        ExpressionAttributeValues: {
          ":old": num(Date.now() - 3 * 24 * 3600_000),
          ":spacing": num(100),
        },
      }),
    );

    budget.observe(keyOf(active), 200, { max: 20, remaining: 19, intervalMs: 2_000 }, Date.now());
    expect((await budget.acquire(keyOf(active), Date.now() + 5_000, 3_000)).granted).toBe(true);
    await budget.flush();

    const { GetItemCommand } = await import("@aws-sdk/client-dynamodb");
    const { Item } = await client.send(
      new GetItemCommand({ TableName: table.tableName, Key: { pk: { S: shard } } }),
    );
    expect(Item?.[place.attribute("tat")]).toBeUndefined();
    expect(Item?.[place.attribute("spacing")]).toBeUndefined();
    expect(Item?.[budgetPlace(keyOf(active)).attribute("tat")]).toBeDefined();
  });

  it("lets a container's first call for a budget go alone until its answer tells the real limit", async () => {
    table = await startEmbeddedDynamoDb();
    const key = "locA:fingerprint1";
    const budget = budgetOn(table);
    const first = budget.acquire(key, Date.now() + 5_000, 2_000);
    const others = [1, 2].map(() =>
      budget.acquire(key, Date.now() + 5_000, 2_000).then((permit) => ({ permit, at: Date.now() })),
    );
    expect((await first).granted).toBe(true);
    // HighLevel answers the first call 150 ms later: 5 calls a second, far below the documented limit.
    await new Promise((resolve) => setTimeout(resolve, 150));
    const firstAnsweredAt = Date.now();
    budget.observe(key, 200, { max: 5, remaining: 4, intervalMs: 1_000 }, firstAnsweredAt - 150);

    const granted = await Promise.all(others);
    expect(granted.every(({ permit }) => permit.granted)).toBe(true);
    // Nothing else went before the answer came.
    expect(granted.every(({ at }) => at >= firstAnsweredAt)).toBe(true);
    const slots = granted.map(({ permit }) => (permit.granted ? permit.slotAt : Number.NaN));
    // Booked at the spacing the answer told (4 calls a second), not the documented 100 / 10 s.
    expect(Math.abs((slots[1] as number) - (slots[0] as number))).toBeGreaterThan(240);
  });

  it("learns a budget's limit once for the fleet: a second container waits for the first's answer", async () => {
    table = await startEmbeddedDynamoDb();
    const key = "locA:fingerprint1";
    const first = budgetOn(table);
    const second = budgetOn(table);
    const firstPermit = await first.acquire(key, Date.now() + 10_000, 5_000);
    expect(firstPermit.granted).toBe(true);
    // The second container asks while the first's call is out: it must not send a call of its
    // own at the documented limit.
    const secondPermit = second
      .acquire(key, Date.now() + 10_000, 5_000)
      .then((permit) => ({ permit, at: Date.now() }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const answeredAt = Date.now();
    first.observe(key, 200, { max: 4, remaining: 3, intervalMs: 1_000 }, answeredAt - 200);
    await first.flush();

    const { permit, at } = await secondPermit;
    expect(permit.granted).toBe(true);
    expect(at).toBeGreaterThanOrEqual(answeredAt);
    // Its slot is one learnt spacing (1 s / 3) after the first call, not the probe's 2 s gap.
    const gap = (permit as { slotAt: number }).slotAt - (firstPermit as { slotAt: number }).slotAt;
    expect(gap).toBeCloseTo(budgetSchedule(4, 1_000).spacingMs, 0);
  });

  it("leases an uncontested budget far from spent: batches after the first window cost almost no writes", async () => {
    table = await startEmbeddedDynamoDb();
    const key = "locA:fingerprint1";
    const budget = budgetOn(table);
    const batch = async (remaining: number, calls = 5) => {
      budget.expect("locA", calls);
      await Promise.all(
        Array.from({ length: calls }, async () => {
          // A busy machine wakes a batch late and its leased slots go stale; what the table
          // booked for them stays booked, so the next slot may be seconds away: a generous
          // wait, as only the writes are measured here.
          const permit = await budget.acquire(key, Date.now() + 60_000, 30_000);
          expect(permit.granted, JSON.stringify({ permit, requests: budget.requests })).toBe(true);
          budget.observe(key, 200, { max: 50, remaining, intervalMs: 1_000 }, Date.now());
        }),
      );
    };
    // One window of batches booked one write each: nobody else is seen.
    const started = Date.now();
    while (Date.now() - started < 1_200) await batch(45);
    const leasedFrom = budget.requests.writes;
    for (let n = 0; n < 10; n++) await batch(45);
    const leasedWrites = budget.requests.writes - leasedFrom;
    // A low remaining (someone spends the window) brings back a write per batch, once the slots
    // already leased (at most 100) are spent. (Batches longer than the bridge to the next batch,
    // 250 ms of slots: a batch shorter than that would start on the last one's bridge.)
    for (let n = 0; n < 20; n++) await batch(5);
    const strictFrom = budget.requests.writes;
    for (let n = 0; n < 5; n++) await batch(5, 20);
    const strictWrites = budget.requests.writes - strictFrom;

    expect(leasedWrites).toBeLessThanOrEqual(3);
    expect(strictWrites).toBeGreaterThanOrEqual(5);
  });

  it("books a contested budget fleet-wide: two containers leasing nothing they share", async () => {
    table = await startEmbeddedDynamoDb();
    const key = "locA:fingerprint1";
    const teacher = budgetOn(table);
    // A small budget with a short window, so that a lease would be allowed within the test.
    teacher.observe(key, 200, { max: 6, remaining: 5, intervalMs: 1_000 }, Date.now());
    await teacher.flush();
    const containers = await runContainers(2, table, key, 15, 3);
    const grants = containers.flatMap((c) => c.grants);
    const slots = containers.flatMap((c) => c.slots);
    expect(grants).toHaveLength(30);
    // 5 slots a window (6 less the reserve) for the two together; never more than HighLevel's 6.
    expect(busiestWindow(slots, 1_000)).toBeLessThanOrEqual(5);
    expect(busiestWindow(grants, 1_000)).toBeLessThanOrEqual(6);
  });

  it("never sends the table a booking whose slot window is upside down, however short the caller's wait", async () => {
    table = await startEmbeddedDynamoDb();
    // A table that answers in 200 ms: bookings start 400 ms ahead, more than half this
    // budget's slack (263 ms), which once made the lower bound of the booking's BETWEEN pass its
    // upper bound for a caller that could not wait (DynamoDB refuses that: the container fell
    // back to pacing alone for a minute).
    const slow = await startLatencyProxy(table.endpoint, () => 200);
    try {
      const client = createLocalDynamoDbClient(slow.endpoint);
      const fellBack: unknown[] = [];
      const budget = new FleetBudget({
        client: async () => client,
        tableName: table.tableName,
        fallback: new RatePacer(),
        onFallback: (error) => fellBack.push(error),
      });
      const key = "locA:fingerprint1";
      budget.observe(key, 200, { max: 20, remaining: 19, intervalMs: 10_000 }, Date.now());
      await budget.flush();
      for (let n = 0; n < 3; n++) await budget.acquire(key, Date.now() + 10_000, 5_000);
      // The last booked slot passes; the budget was seen booked a moment ago.
      await new Promise((resolve) => setTimeout(resolve, 700));
      const asked = Date.now();
      const permit = await budget.acquire(key, Date.now() + 10_000, 0);
      expect(fellBack).toEqual([]);
      expect(budget.fallingBack).toBe(false);
      // A caller that cannot wait gets no slot after the moment it asked, or none at all.
      if (permit.granted) expect(permit.slotAt ?? Number.NaN).toBeLessThanOrEqual(asked + 1);
    } finally {
      await slow.stop();
    }
  });

  it("books from what a failed write read, even when the table's next slot sits just under the floor", async () => {
    table = await startEmbeddedDynamoDb();
    // The table answered its first write in 150 ms, the next ones at once: bookings still start
    // a smoothed answer time ahead (about 300 ms, falling), and a floor not far short of it.
    let answered = 0;
    const slow = await startLatencyProxy(table.endpoint, () => (answered++ === 0 ? 150 : 1));
    try {
      const client = createLocalDynamoDbClient(slow.endpoint);
      const budgetTable = new BudgetTable(async () => client, table.tableName);
      const key = "locA:fingerprint1";
      const spacing = 20.41;
      await budgetTable.update(
        key,
        "SET spacing = :spacing, slack = :slack, #ttl = :ttl",
        { ":spacing": num(spacing), ":slack": num(spacing) },
        undefined,
        Date.now() + 5_000,
      );
      // Another container's last slot, 100 ms ahead: booked lately, yet under the floor.
      const tat = Date.now() + 100;
      await client.send(
        new UpdateItemCommand({
          TableName: table.tableName,
          Key: { pk: { S: budgetPlace(key).pk } },
          UpdateExpression: "SET #tat = :tat",
          ExpressionAttributeNames: { "#tat": budgetPlace(key).attribute("tat") },
          ExpressionAttributeValues: { ":tat": num(tat) },
        }),
      );
      const known = {
        ...unknownBudget(),
        spacingMs: spacing,
        slackMs: spacing,
        tableSpacingMs: spacing,
        nextSlot: tat,
        sawBookedAt: Date.now(),
      };
      const writesBefore = budgetTable.requests.writes;

      const take = await takeSlots(
        budgetTable,
        key,
        known,
        Date.now() + 5_000,
        Date.now() + 10_000,
        3,
      );

      // The first guess (busy) fails; the item it read says the budget starts anew: one more
      // write books. It once guessed busy on every try and refused the call.
      expect(take.kind).toBe("slot");
      expect(budgetTable.requests.writes - writesBefore).toBe(2);
      expect(budgetTable.requests.conflicts).toBe(1);
    } finally {
      await slow.stop();
    }
  });

  it("still books for a caller whose wait is shorter than the table's answer time", async () => {
    table = await startEmbeddedDynamoDb();
    // The table answers in 150 ms (bookings would start 300 ms ahead); callers wait at most
    // 100 ms for a slot. Such a caller once got "busy" without a write, every time, for ever:
    // no write was made that could measure a faster table (a busy machine's delete-csv test).
    const slow = await startLatencyProxy(table.endpoint, () => 150);
    try {
      const client = createLocalDynamoDbClient(slow.endpoint);
      const budget = new FleetBudget({
        client: async () => client,
        tableName: table.tableName,
        fallback: new RatePacer(),
      });
      const key = "locA:fingerprint1";
      // 3 calls a second: a slot every 500 ms, a call may go up to 500 ms after its slot.
      budget.observe(key, 200, { max: 3, remaining: 2, intervalMs: 1_000 }, Date.now());
      await budget.flush();
      const granted: Array<{ asked: number; slotAt: number }> = [];
      for (let n = 0; n < 6; n++) {
        const asking = budget.acquire(key, Date.now() + 10_000, 100);
        // acquire reads the clock before its first await: it asked no later than now. (Read
        // before the call, a busy machine once put its own read a millisecond later.)
        const asked = Date.now();
        const permit = await asking;
        if (permit.granted) granted.push({ asked, slotAt: permit.slotAt ?? Number.NaN });
        else await new Promise((resolve) => setTimeout(resolve, permit.retryAfterMs));
      }
      expect(granted.length).toBeGreaterThanOrEqual(3);
      for (const { asked, slotAt } of granted) expect(slotAt).toBeLessThanOrEqual(asked + 100);
      expect(budget.fallingBack).toBe(false);
    } finally {
      await slow.stop();
    }
  });

  it("holds every container back after a 429 that one of them saw", async () => {
    table = await startEmbeddedDynamoDb();
    const key = "locA:fingerprint1";
    const sawIt = budgetOn(table);
    const other = budgetOn(table);
    sawIt.observe(key, 429, { intervalMs: 3_000 }, Date.now());
    await sawIt.flush();

    const permit = await other.acquire(key, Date.now() + 10_000, 1_000);

    expect(permit.granted).toBe(false);
    expect(permit).toMatchObject({ reason: "burst" });
    expect((permit as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(2_000);
  });

  it("records an empty daily budget once, and every container honours it", async () => {
    table = await startEmbeddedDynamoDb();
    const key = "locA:fingerprint1";
    const first = budgetOn(table);
    const second = budgetOn(table);
    const third = budgetOn(table);
    first.observe(key, 200, { dailyRemaining: 0 }, Date.now());
    await first.flush();
    second.observe(key, 200, { dailyRemaining: 0 }, Date.now());
    await second.flush();

    expect(first.requests.conflicts).toBe(0);
    expect(second.requests.conflicts).toBe(1);
    const permit = await third.acquire(key, Date.now() + 10_000, 1_000);
    expect(permit).toMatchObject({ granted: false, reason: "daily" });
    expect((permit as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(14 * 60_000);
  });

  it("falls back to pacing the container alone when the table cannot be reached, and says so once", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", () => resolve()));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const client = createLocalDynamoDbClient(`http://127.0.0.1:${port}`);
    const told: unknown[] = [];
    const budget = new FleetBudget({
      client: async () => client,
      tableName: "ghl-csv-purge-coordination",
      fallback: new RatePacer(),
      onFallback: (error) => told.push(error),
    });

    const permits = [];
    for (let n = 0; n < 3; n++)
      permits.push(await budget.acquire("locA:f", Date.now() + 5_000, 1_000));

    expect(permits.every((p) => p.granted)).toBe(true);
    expect(budget.fallingBack).toBe(true);
    expect(told).toHaveLength(1);
    client.destroy();
  });
});

describe("the worker with a coordination table", () => {
  it("still deletes every job when the table is down", async () => {
    const { startWorkerHarness } = await import("../helpers/worker-harness.ts");
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", () => resolve()));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const h = await startWorkerHarness({
      env: {
        COORDINATION_TABLE: "ghl-csv-purge-coordination",
        AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${port}`,
      },
    });
    try {
      for (let n = 0; n < 5; n++) await h.send(h.job("locA", h.sandbox.addUpload("locA")._id));
      const { response } = await h.deliver(20_000);
      expect(response.batchItemFailures).toEqual([]);
      expect(h.results.map((r) => r.outcome)).toEqual(Array(5).fill("deleted"));
    } finally {
      await h.stop();
    }
  });

  it("shares one budget between two worker handlers that share nothing else", async () => {
    table = await startEmbeddedDynamoDb();
    const { startWorkerHarness } = await import("../helpers/worker-harness.ts");
    const env = {
      COORDINATION_TABLE: table.tableName,
      AWS_ENDPOINT_URL_DYNAMODB: table.endpoint,
    };
    const first = await startWorkerHarness({
      env,
      sandbox: { burst: { max: 5, intervalMs: 1_000 } },
    });
    try {
      const second = createDeleteCsvHandler({ ...first.env, ...env }, { sqs: first.sqs.client });
      const uploads = Array.from({ length: 12 }, () => first.sandbox.addUpload("locA")._id);
      for (const id of uploads) await first.send(first.job("locA", id));
      // Two "containers" drain one queue against a budget of 5 calls a second.
      const deliverWith = async (handler: typeof second) => {
        const { ReceiveMessageCommand, DeleteMessageBatchCommand } = await import(
          "@aws-sdk/client-sqs"
        );
        const { toSqsEvent } = await import("../../local/sqs-event.ts");
        const { lambdaContext } = await import("../helpers/lambda-context.ts");
        for (;;) {
          const received = await first.sqs.client.send(
            new ReceiveMessageCommand({
              QueueUrl: first.queues.queueUrl,
              MaxNumberOfMessages: 5,
              MessageSystemAttributeNames: ["All"],
              MessageAttributeNames: ["All"],
            }),
          );
          const messages = received.Messages ?? [];
          if (messages.length === 0 && first.pending().length === 0) return;
          if (messages.length === 0) {
            await new Promise((resolve) => setTimeout(resolve, 100));
            continue;
          }
          const response = (await handler(
            toSqsEvent(messages, first.queues.queueArn),
            lambdaContext(10_000),
          )) as { batchItemFailures: { itemIdentifier: string }[] };
          const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
          const done = messages.filter((m) => !failed.has(m.MessageId as string));
          if (done.length > 0) {
            await first.sqs.client.send(
              new DeleteMessageBatchCommand({
                QueueUrl: first.queues.queueUrl,
                Entries: done.map((m, i) => ({
                  Id: String(i),
                  ReceiptHandle: m.ReceiptHandle as string,
                })),
              }),
            );
          }
        }
      };
      await Promise.all([deliverWith(first.handler as typeof second), deliverWith(second)]);
      expect(first.sandbox.count(429)).toBe(0);
      expect(first.sandbox.uploads().filter((u) => u.status === "deleted")).toHaveLength(12);
    } finally {
      await first.stop();
    }
  });
});
