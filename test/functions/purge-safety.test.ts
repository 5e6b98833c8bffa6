import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadPlannerConfig } from "../../functions/core/config.ts";
import { type PurgePlan, planPurge } from "../../functions/core/producers/purge-planner.ts";
import { CSV_STATUSES, parsePurgePolicy } from "../../functions/core/producers/purge-policy.ts";
import { createHighLevelRuntime } from "../../functions/core/worker/worker-runtime.ts";
import {
  type EmbeddedSqs,
  type PipelineQueues,
  startEmbeddedSqs,
} from "../../local/embedded-sqs.ts";
import { startLocalPipeline } from "../../local/local-pipeline.ts";
import {
  type CsvStatus,
  SandboxHighLevelApi,
  type SandboxUpload,
} from "../../local/sandbox-api.ts";

/**
 * Issue #12: a purge cannot wipe out scheduled posts by accident. HighLevel deletes an upload's
 * posts with it; the sandbox does the same and records every post it removed.
 */
const TOKEN = "purge-safety-token-7c1d";
const DAY = 24 * 3600 * 1000;
const STATUSES: readonly CsvStatus[] = CSV_STATUSES;
const LOCATIONS = ["safeLocA", "safeLocB", "safeLocC"];

let sandbox: SandboxHighLevelApi;
let baseUrl: string;
let sqs: EmbeddedSqs;
let queues: PipelineQueues;

beforeEach(async () => {
  sandbox = new SandboxHighLevelApi({ tokens: [TOKEN] });
  baseUrl = await sandbox.start();
  sqs = await startEmbeddedSqs();
  queues = await sqs.createPipelineQueues(`safety-${Date.now()}`, {
    maxReceiveCount: 5,
    visibilityTimeoutSeconds: 30,
  });
});
afterEach(async () => {
  await sandbox.stop();
  await sqs.stop();
});

/**
 * 200 uploads over 3 locations in every status, 60 days old (every tenth one 5 days old); half
 * with a post scheduled in the future, some with none; a few with more posts than one page.
 */
function seed(): SandboxUpload[] {
  return Array.from({ length: 200 }, (_, i) => {
    const createdAt = new Date(Date.now() - (i % 10 === 9 ? 5 : 60) * DAY).toISOString();
    const past = new Date(Date.now() - 30 * DAY).toISOString();
    const future = new Date(Date.now() + (1 + (i % 5)) * DAY).toISOString();
    const many = i % 17 === 0 ? Array.from({ length: 130 }, () => past) : [past];
    const posts = i % 2 === 0 ? [...many, future] : i % 7 === 1 ? [] : many;
    return sandbox.addUpload(LOCATIONS[i % 3] as string, {
      status: STATUSES[i % STATUSES.length] as CsvStatus,
      createdAt,
      posts,
    });
  });
}

function plan(policy: Record<string, unknown>, pageSize?: number): Promise<PurgePlan> {
  const config = loadPlannerConfig({
    HIGHLEVEL_BASE_URL: baseUrl,
    HIGHLEVEL_TOKEN: TOKEN,
    QUEUE_URL: queues.queueUrl,
  });
  const runtime = createHighLevelRuntime(config, { sqs: sqs.client });
  return planPurge(parsePurgePolicy({ locationIds: LOCATIONS, olderThanDays: 30, ...policy }), {
    ...runtime,
    sqs: sqs.client,
    queueUrl: queues.queueUrl,
    deadline: Date.now() + 60_000,
    ...(pageSize && { pageSize }),
  });
}

/** Runs the real worker over the queue until it is empty. */
async function drain(): Promise<void> {
  const pipeline = await startLocalPipeline({
    highLevelBaseUrl: baseUrl,
    token: TOKEN,
    functionTimeoutSeconds: 10,
    batchingWindowSeconds: 0,
    external: { endpoint: sqs.endpoint, queues },
    perContainerPacing: true,
  });
  pipeline.poller.start();
  await pipeline.waitUntilDrained(new AbortController().signal);
  await pipeline.stop();
}

const old = (u: SandboxUpload) => Date.parse(u.createdAt) < Date.now() - 30 * DAY;
const hasFuturePost = (u: SandboxUpload) =>
  u.posts.some((p) => Date.parse(p.scheduleDate) > Date.now());
const ids = (uploads: SandboxUpload[]) => uploads.map((u) => u._id).sort();
const deletedNow = () =>
  ids(LOCATIONS.flatMap((l) => sandbox.uploads(l)).filter((u) => u.status === "deleted"));

describe("purges that cannot wipe out scheduled posts by accident", () => {
  it("by default deletes exactly the old completed/failed uploads without future posts; no future post disappears", async () => {
    const uploads = seed();
    const alreadyDeleted = ids(uploads.filter((u) => u.status === "deleted"));
    const finished = uploads.filter((u) => old(u) && ["completed", "failed"].includes(u.status));
    const deletable = finished.filter((u) => !hasFuturePost(u));
    const protectedOnes = finished.filter(hasFuturePost);
    const futurePosts = uploads
      .flatMap((u) => u.posts)
      .filter((p) => Date.parse(p.scheduleDate) > Date.now()).length;

    const dry = await plan({ dryRun: true });
    expect(dry.enqueued).toBe(0);
    expect(await queueDepth()).toBe(0);
    expect(dry.totals).toMatchObject({
      listed: 200,
      delete: deletable.length,
      protected: protectedOnes.length,
      leftOut: 0,
      futurePostsRemoved: 0,
    });
    expect(
      dry.uploads.filter((u) => u.decision === "protected").every((u) => u.posts?.future === 1),
    ).toBe(true);
    const protectedRow = dry.uploads.find((u) => u.decision === "protected");
    expect(protectedRow?.why).toMatch(/1 post\(s\) still scheduled, the next at \d{4}-/);
    // Uploads HighLevel would refuse, or still being worked on, are skipped unless named.
    expect(dry.uploads.find((u) => u.status === "importing")?.decision).toBe("skipped");
    // An upload with more posts than one page was read to the end.
    const big = dry.uploads.find((u) => (u.posts?.total ?? 0) > 100);
    expect(big?.posts?.total).toBeGreaterThanOrEqual(130);

    const real = await plan({});
    expect(real.totals).toEqual(dry.totals);
    expect(real.enqueued).toBe(deletable.length);
    await drain();

    expect(deletedNow()).toEqual([...alreadyDeleted, ...ids(deletable)].sort());
    expect(sandbox.removedPosts.filter((p) => Date.parse(p.scheduleDate) > Date.now())).toEqual([]);
    const remainingFuture = LOCATIONS.flatMap((l) => sandbox.uploads(l))
      .flatMap((u) => u.posts)
      .filter((p) => Date.parse(p.scheduleDate) > Date.now()).length;
    expect(remainingFuture).toBe(futurePosts);
  }, 120_000);

  it("--include-scheduled deletes the rest of completed/failed, and its dry run counts the future posts that go", async () => {
    const uploads = seed();
    const finished = uploads.filter((u) => old(u) && ["completed", "failed"].includes(u.status));
    const futureInFinished = finished
      .flatMap((u) => u.posts)
      .filter((p) => Date.parse(p.scheduleDate) > Date.now()).length;

    const dry = await plan({ dryRun: true, protectScheduledPosts: false });
    expect(dry.totals).toMatchObject({ delete: finished.length, protected: 0 });
    expect(dry.totals.futurePostsRemoved).toBe(futureInFinished);

    await plan({ protectScheduledPosts: false });
    await drain();
    for (const upload of finished) {
      expect(sandbox.upload(upload.locationId, upload._id)?.status).toBe("deleted");
    }
    expect(
      sandbox.removedPosts.filter((p) => Date.parse(p.scheduleDate) > Date.now()),
    ).toHaveLength(futureInFinished);
  }, 120_000);

  it("refuses the deleted status, and defaults to completed and failed", () => {
    expect(() => parsePurgePolicy({ locationIds: ["a"], statuses: ["deleted"] })).toThrow(
      "deleted uploads are gone already",
    );
    expect(parsePurgePolicy({ locationIds: ["a"] })).toMatchObject({
      statuses: ["completed", "failed"],
      protectScheduledPosts: true,
      scheduledPostMarginMinutes: 60,
      maxJobs: 10_000,
    });
  });

  it("reports a location whose listing fails mid-way as incomplete and still enqueues the rest", async () => {
    seed();
    sandbox.scriptListing("safeLocB", ["ok", 500, 500, 500]);
    const result = await plan({}, 20);
    const b = result.locations.find((l) => l.locationId === "safeLocB");
    expect(b?.incomplete).toContain("HighLevel answered 500");
    expect(b?.listed).toBe(20);
    const others = result.locations.filter((l) => l.locationId !== "safeLocB");
    expect(others.every((l) => l.incomplete === undefined && l.listed > 60)).toBe(true);
    expect(result.enqueued).toBe(result.totals.delete);
    expect(result.enqueued).toBeGreaterThan(0);
  });
});

async function queueDepth(): Promise<number> {
  const queue = sqs.server.inspectQueue(queues.queueUrl.split("/").pop() as string);
  return (queue?.messages.ready.length ?? 0) + (queue?.messages.delayed.length ?? 0);
}
