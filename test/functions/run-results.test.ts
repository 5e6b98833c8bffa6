import { afterEach, describe, expect, it } from "vitest";
import { ReportBucket } from "../../functions/core/runs/report-bucket.ts";
import type { ResultLine } from "../../functions/core/runs/result-line.ts";
import { RunRecorder } from "../../functions/core/runs/run-recorder.ts";
import { readRunReport } from "../../functions/core/runs/run-report.ts";
import {
  recordBatchResults,
  type SettledMessage,
} from "../../functions/core/worker/batch-results.ts";
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
  it("brings a deleted job's message back when its result line cannot be written, and the report keeps the deletion", async () => {
    const h = await start();
    const upload = h.sandbox.addUpload("locA");
    const messageId = await h.send(h.job("locA", upload._id, { runId: RUN }));

    const first = await h.deliver();

    expect(h.sandbox.upload("locA", upload._id)?.status).toBe("deleted");
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: messageId }]);
    expect(h.pending()).toHaveLength(1);

    await h.sqs.createReportBucket(BUCKET);
    const second = await h.deliver();

    expect(second.response.batchItemFailures).toEqual([]);
    expect(h.results.map((r) => r.outcome)).toEqual(["deleted", "already-absent"]);
    expect(h.pending()).toHaveLength(0);
    // The held line went with the second write: the row says what this tool did.
    expect(await reportOf(h)).toMatchObject([
      { locationId: "locA", csvId: upload._id, outcome: "deleted", messageId },
    ]);
  });

  it("keeps a message on its last receive settled (SQS would dead-letter it without a reason) and writes its held line next time", async () => {
    const h = await start(1);
    const upload = h.sandbox.addUpload("locA");
    await h.send(h.job("locA", upload._id, { runId: RUN }));

    const first = await h.deliver();

    expect(first.response.batchItemFailures).toEqual([]);
    expect(h.pending()).toHaveLength(0);
    expect(h.deadLetters()).toHaveLength(0);

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
  });
});

describe("recordBatchResults", () => {
  const log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  const settled: SettledMessage[] = [
    {
      messageId: "m1",
      receiveCount: 1,
      entry: {
        runId: RUN,
        line: { locationId: "l", csvId: "c1", outcome: "deleted" as const, attempts: 1 },
      },
    },
    { messageId: "m2", receiveCount: 1, entry: { runId: RUN } },
    {
      messageId: "m3",
      receiveCount: 3,
      entry: {
        runId: RUN,
        line: { locationId: "l", csvId: "c3", outcome: "deleted" as const, attempts: 1 },
      },
    },
  ];

  it("with too little time left to write, brings back the messages with a line that are not on their last receive", async () => {
    const bucket = { put: async () => {} } as unknown as ReportBucket;
    const runs = new RunRecorder({ bucket, log });

    const { comeBack, report } = await recordBatchResults(runs, settled, {
      remainingMs: 50,
      maxReceiveCount: 3,
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
    });

    expect(comeBack).toEqual([]);
    expect((await runs.flush(Date.now() + 1_000)).linesWritten).toBe(0);
  });
});
