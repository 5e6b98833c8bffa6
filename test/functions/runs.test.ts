import { afterEach, describe, expect, it } from "vitest";
import { redriveDeadLetters } from "../../functions/core/operations/dead-letter-redrive.ts";
import { enqueueDeletions } from "../../functions/core/producers/enqueue.ts";
import type { ResultLine } from "../../functions/core/runs/result-line.ts";
import { getRun, listRuns, readRunReport } from "../../functions/core/runs/runs-api.ts";
import { type LocalPipeline, startLocalPipeline } from "../../local/local-pipeline.ts";
import { SandboxHighLevelApi } from "../../local/sandbox-api.ts";

const TOKEN = "runs-token-5e1f";

let sandbox: SandboxHighLevelApi | undefined;
let pipeline: LocalPipeline | undefined;
afterEach(async () => {
  await pipeline?.stop();
  await sandbox?.stop();
  pipeline = undefined;
  sandbox = undefined;
});

async function start() {
  sandbox = new SandboxHighLevelApi({ tokens: [TOKEN], latencyMs: 1, seed: 3 });
  const baseUrl = await sandbox.start();
  pipeline = await startLocalPipeline({
    highLevelBaseUrl: baseUrl,
    token: TOKEN,
    functionTimeoutSeconds: 5,
    batchingWindowSeconds: 0,
    maxConcurrency: 2,
    batchSize: 20,
  });
  const { coordination, reportBucket, dynamoDb, s3 } = pipeline.runs;
  if (!coordination || !reportBucket || !dynamoDb || !s3) throw new Error("no run stores");
  return {
    api: sandbox,
    run: pipeline,
    coordinationTable: { tableName: coordination.tableName, client: dynamoDb },
    reportBucket: { bucketName: reportBucket, client: s3 },
  };
}

async function reportOf(
  runId: string,
  reportBucket: Parameters<typeof readRunReport>[1]["reportBucket"],
) {
  const rows: ResultLine[] = [];
  for await (const row of readRunReport(runId, { reportBucket })) rows.push(row);
  return rows;
}

describe("runs: ids, records and reports", () => {
  it("reports two runs interleaved on one queue apart, each finished with its own counts", async () => {
    const { api, run, coordinationTable, reportBucket } = await start();
    const jobsOf = (location: string, n: number) =>
      Array.from({ length: n }, () => ({
        locationId: location,
        csvId: api.addUpload(location)._id,
      }));
    const first = jobsOf("runLocA", 30);
    const second = jobsOf("runLocB", 20);
    const gone = api.addUpload("runLocB", { status: "deleted" });
    second.push({ locationId: "runLocB", csvId: gone._id });
    const options = { queueUrl: run.queues.queueUrl, client: run.sqs.client, coordinationTable };
    const [a, b] = await Promise.all([
      enqueueDeletions(first, { ...options, runLabel: "first file" }),
      enqueueDeletions(second, { ...options, runId: "nightly-test-run" }),
    ]);
    expect(a.runId).toMatch(/^library-\d{8}T\d{6}Z-[0-9a-f]{4}$/);
    expect(b.runId).toBe("nightly-test-run");
    run.poller.start();
    expect(await run.waitUntilDrained(new AbortController().signal)).toBe(true);

    const runA = await getRun(a.runId as string, { coordinationTable });
    expect(runA).toMatchObject({
      label: "first file",
      source: "library",
      total: 30,
      state: "finished",
      done: 30,
      remaining: 0,
      counts: { deleted: 30, alreadyAbsent: 0, deadLettered: 0, duplicates: 0 },
    });
    const runB = await getRun("nightly-test-run", { coordinationTable });
    expect(runB).toMatchObject({
      total: 21,
      state: "finished",
      counts: { deleted: 20, alreadyAbsent: 1 },
    });

    const rowsA = await reportOf(a.runId as string, reportBucket);
    expect(rowsA).toHaveLength(30);
    expect(new Set(rowsA.map((row) => row.csvId))).toEqual(new Set(first.map((job) => job.csvId)));
    expect(rowsA.every((row) => row.outcome === "deleted" && row.runId === a.runId)).toBe(true);
    const rowsB = await reportOf("nightly-test-run", reportBucket);
    expect(rowsB.filter((row) => row.outcome === "already-absent").map((row) => row.csvId)).toEqual(
      [gone._id],
    );
    expect(rowsB.every((row) => row.locationId === "runLocB")).toBe(true);

    const runs = await listRuns({ coordinationTable });
    expect(runs.map((r) => r.runId).sort()).toEqual([a.runId, "nightly-test-run"].sort());
  });

  it("counts a job dead-lettered, redriven and then deleted once, as deleted", async () => {
    const { api, run, coordinationTable, reportBucket } = await start();
    const stuck = api.addUpload("redriveLoc", { status: "importing" });
    const fine = api.addUpload("redriveLoc");
    const report = await enqueueDeletions(
      [
        { locationId: "redriveLoc", csvId: stuck._id },
        { locationId: "redriveLoc", csvId: fine._id },
      ],
      {
        queueUrl: run.queues.queueUrl,
        client: run.sqs.client,
        coordinationTable,
        runId: "redrive-run",
      },
    );
    expect(report.sent).toBe(2);
    run.poller.start();
    expect(await run.waitUntilDrained(new AbortController().signal)).toBe(true);
    expect(await getRun("redrive-run", { coordinationTable })).toMatchObject({
      state: "finished with dead letters",
      counts: { deleted: 1, deadLettered: 1, deadLetteredByReason: { rejected: 1 } },
    });
    const before = await reportOf("redrive-run", reportBucket);
    expect(before.find((row) => row.csvId === stuck._id)).toMatchObject({
      outcome: "dead-lettered",
      reason: "rejected",
      status: 422,
    });

    // The import finishes; the dead letter is sent back and deleted this time.
    const upload = api.upload("redriveLoc", stuck._id);
    if (upload) upload.status = "completed";
    const moved = await redriveDeadLetters({
      client: run.sqs.client,
      deadLetterQueueUrl: run.queues.deadLetterQueueUrl,
      queueUrl: run.queues.queueUrl,
      useMoveTask: false,
    });
    expect(moved.moved).toBe(1);
    expect(await run.waitUntilDrained(new AbortController().signal)).toBe(true);

    const after = await getRun("redrive-run", { coordinationTable });
    expect(after).toMatchObject({
      state: "finished",
      total: 2,
      done: 2,
      counts: { deleted: 2, deadLettered: 0, deadLetteredByReason: {} },
    });
    const rows = await reportOf("redrive-run", reportBucket);
    expect(rows).toHaveLength(2);
    expect(rows.find((row) => row.csvId === stuck._id)).toMatchObject({ outcome: "deleted" });
  });
});
