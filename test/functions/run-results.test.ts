import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ReportBucket } from "../../functions/core/runs/report-bucket.ts";
import type { ResultLine } from "../../functions/core/runs/result-line.ts";
import { RunRecorder } from "../../functions/core/runs/run-recorder.ts";
import { readRunReport } from "../../functions/core/runs/run-report.ts";
import { RunTable } from "../../functions/core/runs/run-table.ts";
import {
  recordBatchResults,
  type SendSettlements,
  type SettledMessage,
} from "../../functions/core/worker/batch-results.ts";
import {
  MAX_SETTLEMENT_ROUNDS,
  readSettlement,
  SETTLEMENT_ATTRIBUTE,
  type Settlement,
} from "../../functions/core/worker/settlement.ts";
import { startEmbeddedDynamoDb } from "../../local/embedded-dynamodb.ts";
import { createLocalS3Client } from "../../local/embedded-sqs.ts";
import { startWorkerHarness, type WorkerHarness } from "../helpers/worker-harness.ts";

const RUN = "results-run-1";
const BUCKET = "results-not-yet-there";

let harness: WorkerHarness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

/** The worker with a report bucket that does not exist until the test creates it. */
async function start(maxReceiveCount = 3) {
  let endpoint = "";
  harness = await startWorkerHarness({
    maxReceiveCount,
    env: { REPORT_BUCKET: BUCKET },
    overrides: { s3: async () => createLocalS3Client(endpoint) },
  });
  endpoint = harness.sqs.endpoint;
  return harness;
}

async function reportOf(h: WorkerHarness): Promise<ResultLine[]> {
  const s3 = createLocalS3Client(h.sqs.endpoint);
  const rows: ResultLine[] = [];
  for await (const row of readRunReport(RUN, {
    bucket: new ReportBucket(async () => s3, BUCKET),
  })) {
    rows.push(row);
  }
  s3.destroy();
  return rows;
}

describe("a job leaves the queue only with its result stored", () => {
  it("sends a deleted job whose result line cannot be written back as a settlement; its next delivery writes the row and calls nobody", async () => {
    const h = await start();
    const upload = h.sandbox.addUpload("locA");
    const messageId = await h.send(h.job("locA", upload._id, { runId: RUN }));

    const first = await h.deliver();

    expect(h.sandbox.upload("locA", upload._id)?.status).toBe("deleted");
    expect(first.response.batchItemFailures).toEqual([]);
    const [settlement] = h.pending();
    expect(h.pending()).toHaveLength(1);
    expect(settlement?.messageAttributes?.[SETTLEMENT_ATTRIBUTE]?.StringValue).toContain(
      '"outcome":"deleted"',
    );

    await h.sqs.createReportBucket(BUCKET);
    const second = await h.deliver();

    expect(second.response.batchItemFailures).toEqual([]);
    expect(h.results.map((r) => r.outcome)).toEqual(["deleted"]);
    expect(h.sandbox.calls.filter((call) => call.method === "DELETE")).toHaveLength(1);
    expect(h.pending()).toHaveLength(0);
    // The row says what this tool did, under the message the job settled as.
    expect(await reportOf(h)).toMatchObject([
      { locationId: "locA", csvId: upload._id, outcome: "deleted", messageId },
    ]);
  });

  it("does the same on a message's last receive (SQS would dead-letter it without a reason), and nothing is held by the container", async () => {
    const h = await start(1);
    const upload = h.sandbox.addUpload("locA");
    await h.send(h.job("locA", upload._id, { runId: RUN }));

    const first = await h.deliver();

    expect(first.response.batchItemFailures).toEqual([]);
    expect(h.deadLetters()).toHaveLength(0);
    expect(h.pending()).toHaveLength(1);

    await h.sqs.createReportBucket(BUCKET);
    const other = h.sandbox.addUpload("locA");
    await h.send(h.job("locA", other._id, { runId: RUN }));
    await h.deliver();

    const rows = await reportOf(h);
    expect(rows.map((row) => [row.csvId, row.outcome]).sort()).toEqual(
      [
        [upload._id, "deleted"],
        [other._id, "deleted"],
      ].sort(),
    );
    // Once each: the settlement's row, no second one from a line the container held.
    expect(rows).toHaveLength(2);
  });
});

describe("a dead letter's row", () => {
  it("goes with a settlement when it cannot be written before the job is parked, and the report has it once", async () => {
    const h = await start();
    const upload = h.sandbox.addUpload("locA", { status: "importing" });
    await h.send(h.job("locA", upload._id, { runId: RUN }));

    const first = await h.deliver();

    expect(first.response.batchItemFailures).toEqual([]);
    expect(h.deadLetters()).toHaveLength(1);
    expect(h.pending()).toHaveLength(1);

    await h.sqs.createReportBucket(BUCKET);
    await h.deliver();

    expect(h.pending()).toHaveLength(0);
    expect(h.deadLetters()).toHaveLength(1);
    expect(await reportOf(h)).toMatchObject([
      { csvId: upload._id, outcome: "dead-lettered", reason: "rejected" },
    ]);
  });
});

describe("a job leaves the queue only with its count in the run's record", () => {
  it("sends the count back as a settlement while the table is away, and the record has it once the table is back", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ghl-settlement-table-"));
    let table = await startEmbeddedDynamoDb({ path: dir });
    const port = Number(new URL(table.endpoint).port);
    const runTable = () => new RunTable(async () => table.client, table.tableName);
    try {
      await runTable().openRun(RUN, { source: "enqueue" });
      harness = await startWorkerHarness({
        env: { COORDINATION_TABLE: table.tableName, AWS_ENDPOINT_URL_DYNAMODB: table.endpoint },
      });
      const h = harness;
      const uploads = [h.sandbox.addUpload("locA"), h.sandbox.addUpload("locA")];
      for (const upload of uploads) await h.send(h.job("locA", upload._id, { runId: RUN }));
      await table.stop();

      const first = await h.deliver();

      expect(first.response.batchItemFailures).toEqual([]);
      expect(h.results.map((r) => r.outcome)).toEqual(["deleted", "deleted"]);
      expect(h.pending()).toHaveLength(2);

      table = await startEmbeddedDynamoDb({ path: dir, port });
      const second = await h.deliver();

      expect(second.response.batchItemFailures).toEqual([]);
      expect(h.pending()).toHaveLength(0);
      expect(h.sandbox.calls.filter((call) => call.method === "DELETE")).toHaveLength(2);
      const record = await runTable().getRun(RUN);
      expect(record?.counts).toMatchObject({ deleted: 2, alreadyAbsent: 0, duplicates: 0 });
    } finally {
      await table.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("recordBatchResults", () => {
  const log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  const deleted = (csvId: string) => ({
    runId: RUN,
    line: { locationId: "l", csvId, outcome: "deleted" as const, attempts: 1 },
  });
  const settled: SettledMessage[] = [
    { messageId: "m1", receiveCount: 1, body: "{}", entry: deleted("c1") },
    { messageId: "m2", receiveCount: 1, body: "{}", entry: { runId: RUN } },
    { messageId: "m3", receiveCount: 3, body: "{}", entry: deleted("c3") },
  ];
  const brokenBucket = {
    put: async () => {
      throw new Error("the bucket is away");
    },
  } as unknown as ReportBucket;
  const workingBucket = () => {
    const written: string[] = [];
    const bucket = {
      put: async (_key: string, body: string) => {
        written.push(...body.trim().split("\n"));
      },
    } as unknown as ReportBucket;
    return { bucket, written };
  };
  const sendAll: SendSettlements = async (items) => new Set(items.map((i) => i.message.messageId));
  const sendNone: SendSettlements = async () => {
    throw new Error("the queue is away");
  };

  it("sends what a failed write could not store back as settlements, and the container keeps none of it", async () => {
    let bucketUp = false;
    const { bucket: up, written } = workingBucket();
    const bucket = {
      put: (key: string, body: string, deadline: number) =>
        bucketUp ? up.put(key, body, deadline) : brokenBucket.put(key, body, deadline),
    } as unknown as ReportBucket;
    const runs = new RunRecorder({ bucket, log });
    const sent: Settlement[] = [];

    const result = await recordBatchResults(runs, settled, {
      remainingMs: 5_000,
      maxReceiveCount: 3,
      send: async (items) => {
        sent.push(...items.map((item) => item.settlement));
        return sendAll(items, 0);
      },
    });

    expect(result).toMatchObject({ comeBack: [], resent: 2, held: 0 });
    expect(sent.map((s) => [s.messageId, s.entry.line?.csvId, s.missing, s.rounds])).toEqual([
      ["m1", "c1", { line: true, count: false }, 1],
      ["m3", "c3", { line: true, count: false }, 1],
    ]);
    bucketUp = true;
    expect((await runs.flush(Date.now() + 1_000)).linesWritten).toBe(0);
    expect(written).toEqual([]);
  });

  it("when the settlements cannot be sent either, brings a message back, or on its last receive holds its line", async () => {
    const runs = new RunRecorder({ bucket: brokenBucket, log });

    const result = await recordBatchResults(runs, settled, {
      remainingMs: 5_000,
      maxReceiveCount: 3,
      send: sendNone,
    });

    expect(result).toMatchObject({ comeBack: ["m1"], resent: 0, held: 1 });
    expect(result.report.linesHeld).toBe(2);
  });

  it("stores only what a settlement says its run lacks, under the message the job settled as", async () => {
    const { bucket, written } = workingBucket();
    const counted: unknown[] = [];
    const table = {
      addSettlements: async (_runId: string, delta: unknown) => {
        counted.push(delta);
      },
    } as unknown as RunTable;
    const runs = new RunRecorder({ bucket, table, log });
    const settlement: Settlement = {
      entry: deleted("c9"),
      missing: { line: false, count: true },
      messageId: "first-message",
      finishedAt: "2026-12-06T10:00:00.000Z",
      rounds: 2,
    };
    const lineOnly: Settlement = { ...settlement, missing: { line: true, count: false } };

    await recordBatchResults(
      runs,
      [
        { messageId: "s1", receiveCount: 1, body: "{}", entry: settlement.entry, settlement },
        {
          messageId: "s2",
          receiveCount: 1,
          body: "{}",
          entry: lineOnly.entry,
          settlement: lineOnly,
        },
      ],
      { remainingMs: 5_000, maxReceiveCount: 3, send: sendNone },
    );

    expect(counted).toEqual([expect.objectContaining({ deleted: 1, duplicates: 0 })]);
    expect(written.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({
        csvId: "c9",
        outcome: "deleted",
        messageId: "first-message",
        finishedAt: "2026-12-06T10:00:00.000Z",
      }),
    ]);
  });

  it("takes back a count the table refused once the settlement carries it: the record gets it once", async () => {
    let tableUp = false;
    const counted: Array<{ deleted: number; duplicates: number }> = [];
    const table = {
      addSettlements: async (_runId: string, delta: { deleted: number; duplicates: number }) => {
        if (!tableUp) throw new Error("the table is away");
        counted.push(delta);
      },
    } as unknown as RunTable;
    const runs = new RunRecorder({ table, log });
    const sent: Settlement[] = [];

    await recordBatchResults(runs, settled, {
      remainingMs: 5_000,
      maxReceiveCount: 3,
      send: async (items) => {
        sent.push(...items.map((item) => item.settlement));
        return sendAll(items, 0);
      },
    });
    tableUp = true;
    await recordBatchResults(
      runs,
      sent.map((settlement, n) => ({
        messageId: `again-${n}`,
        receiveCount: 1,
        body: "{}",
        entry: settlement.entry,
        settlement,
      })),
      { remainingMs: 5_000, maxReceiveCount: 3, send: sendNone },
    );

    // Three messages: two deleted, one duplicate copy; no line asked for without a bucket.
    expect(sent.map((s) => s.missing)).toEqual(Array(3).fill({ line: false, count: true }));
    expect(counted).toHaveLength(1);
    expect(counted[0]).toMatchObject({ deleted: 2, duplicates: 1 });
  });

  it("keeps a settlement past its last round with the container instead of sending it again", async () => {
    const runs = new RunRecorder({ bucket: brokenBucket, log });
    const settlement: Settlement = {
      entry: deleted("c1"),
      missing: { line: true, count: false },
      messageId: "m0",
      finishedAt: new Date().toISOString(),
      rounds: MAX_SETTLEMENT_ROUNDS,
    };
    let sends = 0;

    const result = await recordBatchResults(
      runs,
      [{ messageId: "m1", receiveCount: 3, body: "{}", entry: settlement.entry, settlement }],
      {
        remainingMs: 5_000,
        maxReceiveCount: 3,
        send: async (items) => {
          sends += items.length;
          return sendAll(items, 0);
        },
      },
    );

    expect(sends).toBe(0);
    expect(result).toMatchObject({ resent: 0, held: 1 });
    expect(result.report.linesHeld).toBe(1);
  });

  it("with too little time left to write, brings back the messages with a line that are not on their last receive", async () => {
    const bucket = { put: async () => {} } as unknown as ReportBucket;
    const runs = new RunRecorder({ bucket, log });

    const { comeBack, report } = await recordBatchResults(runs, settled, {
      remainingMs: 50,
      maxReceiveCount: 3,
      send: sendAll,
    });

    expect(comeBack).toEqual(["m1"]);
    expect(report.linesWritten).toBe(0);
    // The lines are held: the next write stores them.
    expect((await runs.flush(Date.now() + 1_000)).linesWritten).toBe(2);
  });

  it("past the deadline records nothing: Lambda has failed the invocation and every message comes back", async () => {
    const bucket = { put: async () => {} } as unknown as ReportBucket;
    const runs = new RunRecorder({ bucket, log });

    const { comeBack } = await recordBatchResults(runs, settled, {
      remainingMs: 0,
      maxReceiveCount: 3,
      send: sendAll,
    });

    expect(comeBack).toEqual([]);
    expect((await runs.flush(Date.now() + 1_000)).linesWritten).toBe(0);
  });
});

describe("readSettlement", () => {
  const valid: Settlement = {
    entry: {
      runId: RUN,
      line: { locationId: "l", csvId: "c", outcome: "already-absent", attempts: 2, status: 404 },
    },
    missing: { line: true, count: true },
    messageId: "m1",
    finishedAt: "2026-12-06T10:00:00.000Z",
    rounds: 1,
  };
  const attribute = (value: string) => ({ [SETTLEMENT_ATTRIBUTE]: { stringValue: value } });

  it("reads what a settlement send wrote", () => {
    expect(readSettlement(attribute(JSON.stringify(valid)))).toEqual(valid);
  });

  it.each([
    ["not JSON", "{"],
    [
      "an unknown outcome",
      JSON.stringify({
        ...valid,
        entry: { ...valid.entry, line: { ...valid.entry.line, outcome: "gone" } },
      }),
    ],
    ["rounds past the bound", JSON.stringify({ ...valid, rounds: MAX_SETTLEMENT_ROUNDS + 1 })],
    ["no missing parts named", JSON.stringify({ ...valid, missing: undefined })],
    ["a time that is not one", JSON.stringify({ ...valid, finishedAt: "yesterday" })],
  ])("ignores %s: the message is then the job its body is", (_what, value) => {
    expect(readSettlement(attribute(value))).toBeUndefined();
  });
});
