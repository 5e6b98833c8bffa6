import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type {
  SendMessageBatchCommandInput,
  SendMessageBatchCommandOutput,
} from "@aws-sdk/client-sqs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { enqueueDeletions, sendDeletionJobs } from "../../functions/core/producers/enqueue.ts";
import { validJobsFrom } from "../../functions/core/producers/job-file.ts";
import { type EmbeddedSqs, startEmbeddedSqs } from "../../local/embedded-sqs.ts";

let sqs: EmbeddedSqs;
let queueUrl: string;
const queueName = () => queueUrl.split("/").pop() as string;

beforeEach(async () => {
  sqs = await startEmbeddedSqs();
  queueUrl = (
    await sqs.createPipelineQueues(`enqueue-${Date.now()}`, {
      maxReceiveCount: 5,
      visibilityTimeoutSeconds: 30,
    })
  ).queueUrl;
});
afterEach(async () => {
  await sqs.stop();
});

const jobs = (count: number) =>
  Array.from({ length: count }, (_, i) => ({ locationId: `loc${i % 3}`, csvId: `csv${i}` }));
const queuedBodies = () =>
  sqs.server.inspectQueue(queueName())?.messages.ready.map((m) => m.body) ?? [];

/**
 * Makes the real client's SendMessageBatch fail like SQS sometimes does: some entries are
 * withheld and reported in `Failed` (SenderFault false), and some whole requests fail before
 * reaching the queue. A job is failed at most `maxFailuresPerJob` times, so a test that retries
 * more often than that can expect every job sent: which entries fail depends on how the
 * concurrent batches interleave, and without the cap one unlucky job could fail every attempt.
 */
function injectBatchFailures(
  failEvery: number,
  failRequestEvery: number,
  maxFailuresPerJob = Infinity,
) {
  let entriesSeen = 0;
  let requests = 0;
  const failuresOf = new Map<string, number>();
  const mayFail = (entries: { MessageBody?: string }[]) =>
    entries.every((entry) => (failuresOf.get(entry.MessageBody ?? "") ?? 0) < maxFailuresPerJob);
  let failures = 0;
  const noteFailure = (entry: { MessageBody?: string }) => {
    failures += 1;
    failuresOf.set(entry.MessageBody ?? "", (failuresOf.get(entry.MessageBody ?? "") ?? 0) + 1);
  };
  sqs.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== "SendMessageBatchCommand") return next(args);
      const input = args.input as SendMessageBatchCommandInput;
      requests += 1;
      if (requests % failRequestEvery === 0 && mayFail(input.Entries ?? [])) {
        for (const entry of input.Entries ?? []) noteFailure(entry);
        throw Object.assign(new Error("socket hang up"), { name: "NetworkingError" });
      }
      const withheld: string[] = [];
      const kept = (input.Entries ?? []).filter((entry) => {
        entriesSeen += 1;
        if (entriesSeen % failEvery === 0 && mayFail([entry])) {
          noteFailure(entry);
          withheld.push(entry.Id ?? "");
          return false;
        }
        return true;
      });
      if (kept.length === 0) {
        return {
          output: {
            Successful: [],
            Failed: withheld.map((Id) => ({ Id, Code: "InternalError", SenderFault: false })),
          },
          response: {},
        } as never;
      }
      const result = await next({ ...args, input: { ...input, Entries: kept } });
      const output = result.output as SendMessageBatchCommandOutput;
      output.Failed = [
        ...(output.Failed ?? []),
        ...withheld.map((Id) => ({ Id, Code: "InternalError", SenderFault: false })),
      ];
      return result;
    },
    { step: "initialize", name: "injectBatchFailures" },
  );
  return () => failures;
}

describe("enqueueDeletions", () => {
  it("sends every job once, 10 per request, and reports each by its position", async () => {
    const reported: number[] = [];
    const report = await enqueueDeletions(jobs(95), {
      queueUrl,
      client: sqs.client,
      onResult: (result) => reported.push(result.index),
    });
    expect(report).toMatchObject({ sent: 95, failed: 0, invalid: 0, skipped: 0 });
    expect(reported.sort((a, b) => a - b)).toEqual([...Array(95).keys()]);
    expect(report.results.map((r) => r.index)).toEqual([...Array(95).keys()]);
    const bodies = queuedBodies();
    expect(bodies).toHaveLength(95);
    expect(new Set(bodies).size).toBe(95);
    // Every job carries the run the call made (and returned).
    expect(report.runId).toMatch(/^library-\d{8}T\d{6}Z-[0-9a-f]{4}$/);
    expect(JSON.parse(bodies.find((b) => b.includes('"csv7"')) ?? "{}")).toEqual({
      locationId: "loc1",
      csvId: "csv7",
      runId: report.runId,
    });
  });

  it("puts each job in its location's message group, so a standard queue is a fair queue", async () => {
    const sent: { group?: string; body?: string }[] = [];
    sqs.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "SendMessageBatchCommand") {
          const input = args.input as SendMessageBatchCommandInput;
          for (const entry of input.Entries ?? []) {
            sent.push({ group: entry.MessageGroupId, body: entry.MessageBody });
          }
        }
        return next(args);
      },
      { step: "initialize", name: "recordGroups" },
    );
    const report = await enqueueDeletions(jobs(12), { queueUrl, client: sqs.client });
    expect(report.sent).toBe(12);
    expect(sent).toHaveLength(12);
    for (const { group, body } of sent) {
      expect(group).toBe(JSON.parse(body ?? "{}").locationId);
    }
    // fauxqs accepts the group on a standard queue: every job arrived.
    expect(queuedBodies()).toHaveLength(12);
  });

  it("validates every job first and sends none when one is invalid", async () => {
    const input: unknown[] = [...jobs(20), { locationId: "loc1", csvId: "a/b" }, "nope"];
    const report = await enqueueDeletions(input, { queueUrl, client: sqs.client });
    expect(report).toMatchObject({ sent: 0, invalid: 2, skipped: 20 });
    expect(report.results[20]).toEqual({
      index: 20,
      status: "invalid",
      error: "csvId: may contain only letters, digits, '_' and '-'",
    });
    expect(report.results[21]).toMatchObject({
      index: 21,
      status: "invalid",
      error: "must be a JSON object",
    });
    expect(queuedBodies()).toHaveLength(0);
  });

  it("sends the valid ones when asked to, still reporting the invalid", async () => {
    const report = await enqueueDeletions([...jobs(5), { csvId: "x" }], {
      queueUrl,
      client: sqs.client,
      sendValidWhenSomeInvalid: true,
    });
    expect(report).toMatchObject({ sent: 5, invalid: 1 });
    expect(queuedBodies()).toHaveLength(5);
  });

  it("retries entries a batch reports as failed: every job ends sent exactly once", async () => {
    const failedAttempts = injectBatchFailures(7, 5, 3);
    const report = await enqueueDeletions(jobs(300), {
      queueUrl,
      client: sqs.client,
      concurrency: 4,
      maxRetries: 6,
    });
    const bodies = queuedBodies();
    expect(report.sent).toBe(300);
    expect(report.failed).toBe(0);
    expect(bodies).toHaveLength(300);
    expect(new Set(bodies).size).toBe(300);
    // The failures did happen, and were retried.
    expect(failedAttempts()).toBeGreaterThan(40);
  });

  it("reports jobs it could not send instead of dropping them", async () => {
    injectBatchFailures(2, 1_000);
    const report = await enqueueDeletions(jobs(40), {
      queueUrl,
      client: sqs.client,
      maxRetries: 0,
    });
    const sent = report.results.filter((r) => r.status === "sent").length;
    const failed = report.results.filter((r) => r.status === "failed");
    expect(sent + failed.length).toBe(40);
    expect(failed.length).toBe(20);
    expect(failed[0]).toMatchObject({ status: "failed", error: "InternalError: no message" });
    expect(queuedBodies()).toHaveLength(sent);
  });

  it("reports a job from a file that could not be sent by its line, not its position", async () => {
    injectBatchFailures(2, 1_000);
    const dir = mkdtempSync(join(tmpdir(), "enqueue-lines-"));
    try {
      const file = join(dir, "jobs.csv");
      // A blank line and an invalid one: line numbers and valid-job positions differ.
      writeFileSync(file, "locationId,csvId\nl1,c1\n\nl1,bad/id\nl2,c2\nl3,c3\nl4,c4\n");
      const report = await sendDeletionJobs(validJobsFrom(file, 0), {
        queueUrl,
        client: sqs.client,
        maxRetries: 0,
        interleave: false,
      });
      const failed = report.results.filter((r) => r.status === "failed");
      expect(failed.map((r) => r.index)).toEqual([1, 3]);
      expect(failed.map((r) => r.line)).toEqual([5, 7]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
