import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readCsvListPage } from "../../functions/core/highlevel/csv-answer.ts";
import { createPlanPurgeHandler } from "../../functions/plan-purge/create-handler.ts";
import { type EmbeddedSqs, startEmbeddedSqs } from "../../local/embedded-sqs.ts";
import { type CsvStatus, SandboxHighLevelApi } from "../../local/sandbox-api.ts";
import { lambdaContext } from "../helpers/lambda-context.ts";

const TOKEN = "planner-token-3f9e";
const DAY = 24 * 3600 * 1000;
const STATUSES: CsvStatus[] = ["completed", "failed", "deleted", "importing", "pending"];

let sandbox: SandboxHighLevelApi;
let sqs: EmbeddedSqs;
let queueUrl: string;
let handler: ReturnType<typeof createPlanPurgeHandler>;

beforeEach(async () => {
  sandbox = new SandboxHighLevelApi({ tokens: [TOKEN] });
  const baseUrl = await sandbox.start();
  sqs = await startEmbeddedSqs();
  queueUrl = (
    await sqs.createPipelineQueues(`purge-${Date.now()}`, {
      maxReceiveCount: 5,
      visibilityTimeoutSeconds: 30,
    })
  ).queueUrl;
  handler = createPlanPurgeHandler(
    {
      HIGHLEVEL_BASE_URL: baseUrl,
      HIGHLEVEL_TOKEN: TOKEN,
      QUEUE_URL: queueUrl,
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    },
    { sqs: sqs.client },
  );
});
afterEach(async () => {
  await sandbox.stop();
  await sqs.stop();
});

/** 250 uploads: ages 0–249 days, statuses in rotation. */
function seed(locationId: string) {
  return Array.from({ length: 250 }, (_, i) =>
    sandbox.addUpload(locationId, {
      status: STATUSES[i % STATUSES.length] as CsvStatus,
      createdAt: new Date(Date.now() - i * DAY - 3_600_000).toISOString(),
    }),
  );
}

async function drainQueue(): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const { Messages } = await sqs.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    if (!Messages?.length) return bodies;
    bodies.push(...Messages.map((m) => m.Body ?? ""));
  }
}

describe("plan-purge handler", () => {
  it("enqueues exactly the uploads the policy selects, listing page by page", async () => {
    const uploads = seed("purgeLoc");
    const expected = uploads
      .filter(
        (u) =>
          ["failed", "completed"].includes(u.status) &&
          Date.parse(u.createdAt) < Date.now() - 30 * DAY,
      )
      .map((u) => u._id)
      .sort();

    const result = await handler(
      { locationIds: ["purgeLoc"], olderThanDays: 30, statuses: ["failed", "completed"] },
      lambdaContext(),
    );

    expect(result.selected).toBe(expected.length);
    expect(result.enqueued).toBe(expected.length);
    expect(result.locations).toEqual([
      { locationId: "purgeLoc", listed: 250, selected: expected.length, protected: 0, leftOut: 0 },
    ]);
    const jobs = (await drainQueue()).map((body) => JSON.parse(body));
    expect(jobs.map((job) => job.csvId).sort()).toEqual(expected);
    expect(jobs[0]).toMatchObject({
      locationId: "purgeLoc",
      reason: "scheduled purge",
      requestedBy: "plan-purge",
    });
    const listings = sandbox
      .callsTo("GET")
      .filter((call) => call.csvId === undefined)
      .map((call) => call.path);
    expect(listings).toEqual([
      "/social-media-posting/purgeLoc/csv?skip=0&limit=100",
      "/social-media-posting/purgeLoc/csv?skip=100&limit=100",
      "/social-media-posting/purgeLoc/csv?skip=200&limit=100",
    ]);
    expect(sandbox.callsTo("GET").every((c) => c.headers.version === "2021-07-28")).toBe(true);
  });

  it("never selects uploads already deleted, and honours maxJobs across locations", async () => {
    seed("locOne");
    seed("locTwo");
    const result = await handler(
      {
        locationIds: ["locOne", "locTwo"],
        olderThanDays: 0,
        maxJobs: 260,
        statuses: ["completed", "failed", "pending"],
      },
      lambdaContext(),
    );
    expect(result.selected).toBe(260);
    // 300 matched: the cap is a safety cap, and the plan says how many it left out.
    expect(result.totals.leftOut).toBe(40);
    expect(result.enqueued).toBe(260);
    const jobs = (await drainQueue()).map((body) => JSON.parse(body));
    expect(jobs).toHaveLength(260);
    for (const job of jobs) {
      expect(sandbox.upload(job.locationId, job.csvId)?.status).not.toBe("deleted");
    }
  });

  it("plans without enqueueing on a dry run", async () => {
    seed("dryLoc");
    const result = await handler(
      { locationIds: ["dryLoc"], olderThanDays: 100, dryRun: true },
      lambdaContext(),
    );
    expect(result.dryRun).toBe(true);
    expect(result.selected).toBeGreaterThan(0);
    expect(result.enqueued).toBe(0);
    expect(await drainQueue()).toEqual([]);
  });

  it("rejects a malformed policy, naming the field", async () => {
    await expect(
      handler({ locationIds: ["ok"], statuses: ["gone"] }, lambdaContext()),
    ).rejects.toThrow(/statuses\.0: must be one of pending, in_progress/);
    await expect(handler({ locationIds: [] }, lambdaContext())).rejects.toThrow(
      /locationIds: must name at least one/,
    );
  });

  it("reports a location whose listing HighLevel refuses, and enqueues the rest", async () => {
    seed("goodLoc");
    sandbox.setTokens(["other"]);
    const result = await handler({ locationIds: ["goodLoc"], olderThanDays: 0 }, lambdaContext());
    expect(result.locations[0]?.incomplete).toBe(
      "HighLevel answered 401: Invalid token: access token is invalid",
    );
    expect(result.enqueued).toBe(0);
  });
});

describe("readCsvListPage", () => {
  it("accepts csvs as an array (real answers) or an object (the reference's type)", () => {
    const upload = { _id: "a1", status: "completed" };
    expect(readCsvListPage({ results: { csvs: [upload], count: 1 } })).toEqual({
      csvs: [upload],
      total: 1,
    });
    expect(readCsvListPage({ results: { csvs: { 0: upload } } })).toEqual({
      csvs: [upload],
      total: undefined,
    });
    expect(readCsvListPage({})).toEqual({ csvs: [], total: undefined });
  });
});
