import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterEach, describe, expect, it } from "vitest";
import { createDeleteCsvHandler } from "../../functions/delete-csv/create-handler.ts";
import { startEmbeddedDynamoDb } from "../../local/embedded-dynamodb.ts";
import { toSqsEvent } from "../../local/sqs-event.ts";
import { startFakeSecretsManager } from "../helpers/fake-secrets-manager.ts";
import { INVALID_BODIES } from "../helpers/invalid-bodies.ts";
import { lambdaContext } from "../helpers/lambda-context.ts";
import { startWorkerHarness, TEST_TOKEN, type WorkerHarness } from "../helpers/worker-harness.ts";

let harness: WorkerHarness | undefined;
async function start(options?: Parameters<typeof startWorkerHarness>[0]) {
  harness = await startWorkerHarness(options);
  return harness;
}
const onStop: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
  for (const stop of onStop.splice(0)) await stop();
});

describe("delete-csv handler: DESIGN.md's outcome table", () => {
  it("deletes on 2xx with one call carrying the bearer token, Version and Accept headers", async () => {
    const h = await start();
    const upload = h.sandbox.addUpload("locA");
    await h.send(h.job("locA", upload._id));

    const { response } = await h.deliver();

    expect(response.batchItemFailures).toEqual([]);
    expect(h.sandbox.calls).toHaveLength(1);
    const [call] = h.sandbox.calls;
    expect(call).toMatchObject({
      method: "DELETE",
      path: `/social-media-posting/locA/csv/${upload._id}`,
    });
    expect(call?.headers.authorization).toBe(`Bearer ${TEST_TOKEN}`);
    expect(call?.headers.version).toBe("2021-07-28");
    expect(call?.headers.accept).toBe("application/json");
    expect(h.sandbox.upload("locA", upload._id)?.status).toBe("deleted");
    expect(h.results.map((r) => r.outcome)).toEqual(["deleted"]);
    expect(h.pending()).toHaveLength(0);
    expect(h.deadLetters()).toHaveLength(0);
  });

  it("treats 404 as already-absent after one call", async () => {
    const h = await start();
    await h.send(h.job("locA", "neverExisted"));

    const { response } = await h.deliver();

    expect(response.batchItemFailures).toEqual([]);
    expect(h.sandbox.calls).toHaveLength(1);
    expect(h.results.map((r) => r.outcome)).toEqual(["already-absent"]);
    expect(h.pending()).toHaveLength(0);
  });

  it("dead-letters a 422 with HighLevel's message after one DELETE and one GET", async () => {
    const h = await start();
    const upload = h.sandbox.addUpload("locA", { status: "importing" });
    const body = h.job("locA", upload._id, { reason: "cleanup" });
    const messageId = await h.send(body);

    await h.deliver();

    expect(h.sandbox.callsTo("DELETE")).toHaveLength(1);
    expect(h.sandbox.callsTo("GET")).toHaveLength(1);
    const [dead] = h.deadLetters();
    expect(dead?.body).toBe(body);
    expect(dead?.attributes).toMatchObject({
      "failure-reason": "rejected",
      "failure-status": "422",
      "failure-detail": "CSV is importing and cannot be deleted",
      "failure-attempts": "2",
      "source-message-id": messageId,
    });
    expect(Date.parse(dead?.attributes["failed-at"] ?? "")).not.toBeNaN();
    expect(h.pending()).toHaveLength(0);
  });

  it.each([400, 422] as const)(
    "treats a soft-deleted upload answering %i as already-absent, not a dead letter",
    async (softDeletedStatus) => {
      const h = await start({ sandbox: { softDeletedStatus } });
      const upload = h.sandbox.addUpload("locA", { status: "deleted" });
      await h.send(h.job("locA", upload._id));

      await h.deliver();

      expect(h.sandbox.callsTo("DELETE")).toHaveLength(1);
      expect(h.sandbox.callsTo("GET")).toHaveLength(1);
      expect(h.sandbox.callsTo("DELETE")[0]?.status).toBe(softDeletedStatus);
      expect(h.results.map((r) => r.outcome)).toEqual(["already-absent"]);
      expect(h.deadLetters()).toHaveLength(0);
    },
  );

  it("re-reads the token once on 401, tries once more, then dead-letters as unauthorized", async () => {
    const h = await start();
    h.sandbox.setTokens(["some-other-token"]);
    const upload = h.sandbox.addUpload("locA");
    await h.send(h.job("locA", upload._id));

    await h.deliver();

    expect(h.sandbox.callsTo("DELETE")).toHaveLength(2);
    expect(h.deadLetters()[0]?.attributes).toMatchObject({
      "failure-reason": "unauthorized",
      "failure-status": "401",
      "failure-detail": "Invalid token: access token is invalid",
      "failure-attempts": "2",
    });
    expect(h.sandbox.upload("locA", upload._id)?.status).toBe("completed");
  });

  it("treats 403 like 401", async () => {
    const h = await start();
    const upload = h.sandbox.addUpload("locA");
    h.sandbox.script("locA", upload._id, [403, 403]);
    await h.send(h.job("locA", upload._id));

    await h.deliver();

    expect(h.sandbox.callsTo("DELETE")).toHaveLength(2);
    expect(h.deadLetters()[0]?.attributes).toMatchObject({
      "failure-reason": "unauthorized",
      "failure-status": "403",
    });
  });

  it("picks up a rotated token from Secrets Manager after a 401 and deletes", async () => {
    const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ghl-AbCdEf";
    const secrets = await startFakeSecretsManager({ [arn]: "pit-revoked" });
    try {
      const h = await start();
      const handler = createDeleteCsvHandler(
        { ...h.env, HIGHLEVEL_TOKEN: "", HIGHLEVEL_TOKEN_SECRET_ARN: arn },
        { sqs: h.sqs.client, secrets: secrets.provider, onSettled: (r) => h.results.push(r) },
      );
      const record = (messageId: string, csvId: string) =>
        toSqsEvent(
          [
            {
              MessageId: messageId,
              Body: h.job("locA", csvId),
              Attributes: { ApproximateReceiveCount: "1" },
            },
          ],
          h.queues.queueArn,
        );
      // A first job caches the old token; then the token is revoked and rotated in the secret.
      h.sandbox.setTokens(["pit-revoked"]);
      await handler(record("m0", "warmUp"), lambdaContext());
      h.sandbox.setTokens([TEST_TOKEN]);
      secrets.set(arn, JSON.stringify({ default: TEST_TOKEN }));
      const upload = h.sandbox.addUpload("locA");

      await handler(record("m1", upload._id), lambdaContext());

      const deletes = h.sandbox.callsTo("DELETE");
      expect(deletes.map((call) => call.status)).toEqual([404, 401, 200]);
      expect(secrets.reads).toHaveLength(2);
      expect(h.results.map((r) => r.outcome)).toEqual(["already-absent", "deleted"]);
    } finally {
      await secrets.stop();
    }
  });

  it("retries 500, 500 and deletes on the third call", async () => {
    const h = await start();
    const upload = h.sandbox.addUpload("locA");
    h.sandbox.script("locA", upload._id, [500, 500]);
    await h.send(h.job("locA", upload._id));

    const { response } = await h.deliver();

    expect(response.batchItemFailures).toEqual([]);
    expect(h.sandbox.callsTo("DELETE").map((call) => call.status)).toEqual([500, 500, 200]);
    expect(h.results.map((r) => r.outcome)).toEqual(["deleted"]);
  });

  it("on 503 forever makes HIGHLEVEL_MAX_ATTEMPTS calls per delivery, redelivers, then dead-letters as exhausted", async () => {
    const h = await start({ maxReceiveCount: 3, env: { HIGHLEVEL_MAX_ATTEMPTS: "3" } });
    const upload = h.sandbox.addUpload("locA");
    h.sandbox.script("locA", upload._id, Array(20).fill(503));
    const body = h.job("locA", upload._id);
    await h.send(body);

    const first = await h.deliver();
    expect(h.sandbox.callsTo("DELETE")).toHaveLength(3);
    expect(first.response.batchItemFailures).toHaveLength(1);
    expect(h.deadLetters()).toHaveLength(0);

    const second = await h.deliver();
    expect(second.response.batchItemFailures).toHaveLength(1);
    expect(h.sandbox.callsTo("DELETE")).toHaveLength(6);

    const third = await h.deliver();
    expect(third.messages[0]?.Attributes?.ApproximateReceiveCount).toBe("3");
    expect(third.response.batchItemFailures).toEqual([]);
    expect(h.sandbox.callsTo("DELETE")).toHaveLength(9);
    // Before the dead letter, one GET looked: the upload is still there.
    expect(h.sandbox.callsTo("GET")).toHaveLength(1);
    const [dead] = h.deadLetters();
    expect(dead?.body).toBe(body);
    expect(dead?.attributes).toMatchObject({
      "failure-reason": "exhausted",
      "failure-status": "503",
      "failure-attempts": "4",
    });
    expect(h.pending()).toHaveLength(0);
  });

  it("looks before dead-lettering as exhausted: a try whose answer was lost had deleted the upload", async () => {
    const h = await start({
      maxReceiveCount: 1,
      env: { HIGHLEVEL_MAX_ATTEMPTS: "2", HIGHLEVEL_TIMEOUT_MS: "300" },
      sandbox: { slowMs: 5_000 },
    });
    const upload = h.sandbox.addUpload("locA");
    // The first DELETE deletes and never answers in time; the second draws a 503.
    h.sandbox.script("locA", upload._id, ["slow", 503]);
    await h.send(h.job("locA", upload._id));

    const { response } = await h.deliver();

    expect(response.batchItemFailures).toEqual([]);
    expect(h.sandbox.callsTo("DELETE")).toHaveLength(2);
    expect(h.sandbox.callsTo("GET")).toHaveLength(1);
    expect(h.results).toMatchObject([{ outcome: "already-absent", calls: 3 }]);
    expect(h.deadLetters()).toHaveLength(0);
    expect(h.pending()).toHaveLength(0);
  });

  it("on a job's last receive, defers it when no call could be sent in time, and dead-letters only the job that was tried", async () => {
    // One HTTP lane: the slow job holds it until the work deadline, so the other job's call
    // never leaves. Each is on its last receive (maxReceiveCount 1).
    const h = await start({
      maxReceiveCount: 1,
      env: { WORKER_CONCURRENCY: "1", HIGHLEVEL_MAX_ATTEMPTS: "1", HIGHLEVEL_TIMEOUT_MS: "5000" },
      sandbox: { slowMs: 10_000 },
    });
    const slow = h.sandbox.addUpload("locA");
    const waiting = h.sandbox.addUpload("locB");
    h.sandbox.script("locA", slow._id, ["slow"]);
    await h.send(h.job("locA", slow._id));
    await h.send(h.job("locB", waiting._id));

    const first = await h.deliver(3_000);

    expect(first.response.batchItemFailures).toEqual([]);
    expect(h.sandbox.callsTo("DELETE", waiting._id)).toHaveLength(0);
    // The tried job is exhausted; the untried one is not: it is back on the queue, deferred.
    expect(h.deadLetters().map((dead) => dead.attributes)).toEqual([
      expect.objectContaining({ "failure-reason": "exhausted", "failure-attempts": "1" }),
    ]);
    expect(h.results.find((r) => r.outcome === "deferred")).toBeDefined();
    const [deferred] = h.pending();
    expect(JSON.parse(deferred?.body ?? "{}")).toMatchObject({ csvId: waiting._id });
    expect(deferred?.messageAttributes?.deferrals?.StringValue).toBe("1");
  });

  it("retries dropped connections and timeouts as transient failures", async () => {
    const h = await start({ env: { HIGHLEVEL_TIMEOUT_MS: "300" }, sandbox: { slowMs: 2_000 } });
    const reset = h.sandbox.addUpload("locA");
    const slow = h.sandbox.addUpload("locA");
    h.sandbox.script("locA", reset._id, ["reset"]);
    h.sandbox.script("locA", slow._id, ["slow"]);
    await h.send(h.job("locA", reset._id));
    await h.send(h.job("locA", slow._id));

    const { response } = await h.deliver();

    expect(response.batchItemFailures).toEqual([]);
    expect(h.sandbox.callsTo("DELETE", reset._id).map((c) => c.status)).toEqual(["reset", 200]);
    // The slow answer deleted the upload but came too late; the retry finds it soft-deleted.
    expect(h.sandbox.callsTo("DELETE", slow._id)).toHaveLength(2);
    expect(h.results.map((r) => r.outcome).sort()).toEqual(["already-absent", "deleted"]);
  });

  it("after a 429 with X-RateLimit-Interval-Milliseconds: 1000, waits at least 1 s before the next call", async () => {
    const h = await start({ sandbox: { burst: { max: 100, intervalMs: 1_000 } } });
    const upload = h.sandbox.addUpload("locA");
    h.sandbox.script("locA", upload._id, [429]);
    await h.send(h.job("locA", upload._id));

    await h.deliver();

    const [throttled, retried] = h.sandbox.callsTo("DELETE");
    expect(throttled?.status).toBe(429);
    expect(retried?.status).toBe(200);
    expect((retried?.at ?? 0) - (throttled?.at ?? 0)).toBeGreaterThanOrEqual(995);
    expect(h.results.map((r) => r.outcome)).toEqual(["deleted"]);
  });

  it("hands back the jobs whose location is booked past the lane's wait, and deletes them later", async () => {
    // 3 calls a second: 2 a window after the reserve; a lane waits at most 100 ms for one.
    // The fleet's budget, as deployed: the coordination table.
    const table = await startEmbeddedDynamoDb();
    onStop.push(() => table.stop());
    const h = await start({
      env: {
        BUDGET_WAIT_MS: "100",
        COORDINATION_TABLE: table.tableName,
        AWS_ENDPOINT_URL_DYNAMODB: table.endpoint,
      },
      sandbox: { burst: { max: 3, intervalMs: 1_000 } },
    });
    const uploads = [1, 2, 3, 4].map(() => h.sandbox.addUpload("locA")._id);
    for (const id of uploads) await h.send(h.job("locA", id));

    const { response } = await h.deliver();

    const handedBack = h.results.filter((r) => r.outcome === "handed-back");
    expect(handedBack.length).toBeGreaterThan(0);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      handedBack.map((r) => r.messageId).sort(),
    );
    // Back on the queue, invisible until the budget may have room (at least 1 s), not parked.
    const inFlight = h.sqs.server.inspectQueue(h.queues.queueUrl.split("/").pop() as string)
      ?.messages.inflight;
    expect(inFlight).toHaveLength(handedBack.length);
    for (const entry of inFlight ?? []) {
      expect(entry.visibilityDeadline - Date.now()).toBeGreaterThan(500);
    }
    expect(h.sandbox.count(429)).toBe(0);

    // Only a hang reaches this bound; a busy machine's table answers slowly but still books.
    const giveUpAt = Date.now() + 45_000;
    while (h.pending().length > 0 && Date.now() < giveUpAt) {
      const { messages } = await h.deliver();
      if (messages.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(h.sandbox.uploads().filter((u) => u.status === "deleted")).toHaveLength(4);
    expect(h.deadLetters()).toHaveLength(0);
    expect(h.sandbox.count(429)).toBe(0);
  });

  it("defers a job throttled throughout instead of dead-lettering it", async () => {
    const h = await start({ sandbox: { burst: { max: 100, intervalMs: 5_000 } } });
    const upload = h.sandbox.addUpload("locA");
    h.sandbox.script("locA", upload._id, [429, 429, 429]);
    const body = h.job("locA", upload._id);
    const sentId = await h.send(body);

    const { response } = await h.deliver(4_000);

    expect(response.batchItemFailures).toEqual([]);
    expect(h.sandbox.callsTo("DELETE")).toHaveLength(1);
    expect(h.deadLetters()).toHaveLength(0);
    const deferred = h.pending();
    expect(deferred).toHaveLength(1);
    expect(deferred[0]?.body).toBe(body);
    expect(deferred[0]?.messageAttributes?.deferrals?.StringValue).toBe("1");
    // The deferral is the same job: it names the job's first message.
    expect(deferred[0]?.messageAttributes?.["source-message-id"]?.StringValue).toBe(sentId);
    expect(h.results.map((r) => r.outcome)).toEqual(["deferred"]);
  });

  it("dead-letters a throttled job as throttled once it has been deferred MAX_DEFERRALS times", async () => {
    const h = await start({
      env: { MAX_DEFERRALS: "2" },
      sandbox: { burst: { max: 100, intervalMs: 5_000 } },
    });
    const upload = h.sandbox.addUpload("locA");
    h.sandbox.script("locA", upload._id, [429]);
    // The job's second deferral: it carries its first message's id.
    await h.sqs.client.send(
      new SendMessageCommand({
        QueueUrl: h.queues.queueUrl,
        MessageBody: h.job("locA", upload._id),
        MessageAttributes: {
          deferrals: { DataType: "Number", StringValue: "2" },
          "source-message-id": { DataType: "String", StringValue: "first-message-of-the-job" },
        },
      }),
    );

    await h.deliver(4_000);

    expect(h.deadLetters()[0]?.attributes).toMatchObject({
      "failure-reason": "throttled",
      "failure-status": "429",
      "source-message-id": "first-message-of-the-job",
    });
    expect(h.results).toMatchObject([
      { outcome: "dead-lettered", originId: "first-message-of-the-job" },
    ]);
    expect(h.pending()).toHaveLength(0);
  });

  it("defers every job of a location whose daily budget is gone, without calling again", async () => {
    const h = await start({ sandbox: { daily: { max: 1 } } });
    const first = h.sandbox.addUpload("locA");
    const second = h.sandbox.addUpload("locA");
    await h.send(h.job("locA", first._id));
    await h.deliver();
    await h.send(h.job("locA", second._id));

    await h.deliver();

    expect(h.sandbox.callsTo("DELETE")).toHaveLength(1);
    expect(h.results.map((r) => r.outcome)).toEqual(["deleted", "deferred"]);
    expect(h.pending()[0]?.messageAttributes?.deferrals?.StringValue).toBe("1");
  });
});

describe("delete-csv handler: invalid jobs", () => {
  it(`dead-letters each of ${INVALID_BODIES.length} bad bodies as invalid-job, unchanged, with no call to HighLevel`, async () => {
    const h = await start();
    for (const { body } of INVALID_BODIES) await h.send(body);

    while (h.pending().length > 0) await h.deliver();

    expect(h.sandbox.calls).toHaveLength(0);
    const dead = h.deadLetters();
    expect(dead).toHaveLength(INVALID_BODIES.length);
    expect(dead.map((d) => d.body).sort()).toEqual(INVALID_BODIES.map((b) => b.body).sort());
    for (const letter of dead) {
      const expected = INVALID_BODIES.find((b) => b.body === letter.body);
      expect(letter.attributes["failure-reason"]).toBe("invalid-job");
      expect(letter.attributes["failure-attempts"]).toBe("0");
      expect(letter.attributes["failure-status"]).toBeUndefined();
      expect(letter.attributes["failure-detail"]).toMatch(expected?.error ?? /never/);
    }
  });
});

describe("delete-csv handler: batches", () => {
  it("deletes a job once when the same job arrives several times in one batch", async () => {
    const h = await start();
    const upload = h.sandbox.addUpload("locA");
    const other = h.sandbox.addUpload("locA");
    for (let i = 0; i < 3; i++) await h.send(h.job("locA", upload._id, { requestedBy: `p${i}` }));
    await h.send(h.job("locA", other._id));

    const { messages, response } = await h.deliver();

    expect(messages).toHaveLength(4);
    expect(response.batchItemFailures).toEqual([]);
    expect(h.sandbox.callsTo("DELETE", upload._id)).toHaveLength(1);
    expect(h.sandbox.callsTo("DELETE", other._id)).toHaveLength(1);
    expect(h.results.filter((r) => r.duplicate)).toHaveLength(2);
    expect(h.pending()).toHaveLength(0);
  });

  it("settles every one of 100 jobs with injected faults exactly once", async () => {
    const h = await start({
      env: { HIGHLEVEL_MAX_ATTEMPTS: "2", HIGHLEVEL_TIMEOUT_MS: "500" },
      sandbox: { faults: { serverErrorRate: 0.3, resetRate: 0.1 }, seed: 7 },
    });
    const kinds = ["completed", "deleted", "importing", "failed", "absent"] as const;
    const sent = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const locationId = `loc${i % 4}`;
      const kind = kinds[i % kinds.length];
      const csvId =
        kind === "absent" ? `gone${i}` : h.sandbox.addUpload(locationId, { status: kind })._id;
      sent.add(await h.send(h.job(locationId, csvId)));
    }

    const failures = new Set<string>();
    for (let round = 0; round < 10; round++) {
      const { response } = await h.deliver();
      for (const failure of response.batchItemFailures) failures.add(failure.itemIdentifier);
    }

    const settled = h.results.map((r) => r.messageId);
    expect(new Set(settled).size).toBe(100);
    expect(new Set(settled)).toEqual(sent);
    const count = (outcome: string) => h.results.filter((r) => r.outcome === outcome).length;
    const total =
      count("deleted") + count("already-absent") + count("dead-lettered") + count("redelivered");
    expect(total).toBe(100);
    expect(count("redelivered")).toBe(failures.size);
    expect(count("redelivered")).toBeGreaterThan(0);
    expect(count("deleted")).toBeGreaterThan(0);
    expect(h.deadLetters()).toHaveLength(count("dead-lettered"));
    expect(h.pending()).toHaveLength(failures.size);
    // Uploads reported deleted are deleted in the sandbox.
    expect(h.sandbox.uploads().filter((u) => u.status === "deleted").length).toBeGreaterThanOrEqual(
      count("deleted") + 20,
    );
  });

  it("returns before the deadline when little time is left, leaving unstarted jobs for redelivery", async () => {
    const h = await start({ sandbox: { latencyMs: 5_000 } });
    for (let i = 0; i < 5; i++) await h.send(h.job("locA", h.sandbox.addUpload("locA")._id));

    const started = Date.now();
    const tight = await h.deliver(150);
    expect(Date.now() - started).toBeLessThan(150);
    expect(tight.response.batchItemFailures).toHaveLength(5);
    expect(h.sandbox.calls).toHaveLength(0);

    const startedAgain = Date.now();
    const short = await h.deliver(3_000);
    expect(Date.now() - startedAgain).toBeLessThan(3_000);
    expect(short.response.batchItemFailures).toHaveLength(5);
    expect(h.pending()).toHaveLength(5);
  });
});

describe("delete-csv handler: nothing dropped", () => {
  it("reports a job as a batch item failure when the DLQ refuses it, leaving it on the queue", async () => {
    const h = await start({
      env: { DEAD_LETTER_QUEUE_URL: "http://sqs.us-east-1.127.0.0.1/000000000000/no-such-dlq" },
    });
    const messageId = await h.send("not a job");

    const { response } = await h.deliver();

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: messageId }]);
    expect(h.results.map((r) => r.outcome)).toEqual(["redelivered"]);
    expect(h.pending().map((m) => m.body)).toEqual(["not a job"]);
  });

  it("reports a job as a batch item failure when its deferral cannot be sent", async () => {
    const h = await start({
      env: { QUEUE_URL: "http://sqs.us-east-1.127.0.0.1/000000000000/no-such-queue" },
      sandbox: { burst: { max: 100, intervalMs: 5_000 } },
    });
    const upload = h.sandbox.addUpload("locA");
    h.sandbox.script("locA", upload._id, [429]);
    const messageId = await h.send(h.job("locA", upload._id));

    const { response } = await h.deliver(3_000);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: messageId }]);
    expect(h.pending()).toHaveLength(1);
    expect(h.deadLetters()).toHaveLength(0);
  });
});

describe("delete-csv handler: last receives", () => {
  it("sends a job it had no time to start back to the queue on its last receive, instead of letting SQS dead-letter it", async () => {
    const h = await start({ maxReceiveCount: 1 });
    const upload = h.sandbox.addUpload("locA");
    const body = h.job("locA", upload._id);
    await h.send(body);

    const { response } = await h.deliver(150);

    expect(response.batchItemFailures).toEqual([]);
    expect(h.sandbox.calls).toHaveLength(0);
    expect(h.deadLetters()).toHaveLength(0);
    const [sentBack] = h.pending();
    expect(sentBack?.body).toBe(body);
    expect(sentBack?.messageAttributes?.deferrals?.StringValue).toBe("1");
  });
});

describe("delete-csv handler: secrets", () => {
  it("never lets the token reach a log line, an error, a DLQ body or attribute", async () => {
    const lines: string[] = [];
    const original = { ...console };
    for (const method of ["log", "info", "warn", "error", "debug"] as const) {
      console[method] = (...args: unknown[]) => {
        lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
      };
    }
    try {
      const h = await start({ env: { HIGHLEVEL_MAX_ATTEMPTS: "2" } });
      const rejected = h.sandbox.addUpload("locA");
      h.sandbox.script("locA", rejected._id, [
        { status: 422, body: { statusCode: 422, message: [`token ${TEST_TOKEN} may not delete`] } },
      ]);
      const flaky = h.sandbox.addUpload("locA");
      h.sandbox.script("locA", flaky._id, [500, 500, "reset"]);
      await h.send(h.job("locA", rejected._id));
      await h.send(h.job("locA", flaky._id));
      await h.send("{not json");
      await h.deliver();
      h.sandbox.setTokens([]);
      await h.send(h.job("locA", h.sandbox.addUpload("locA")._id));
      await h.deliver();

      const dead = h.deadLetters();
      expect(dead.map((d) => d.attributes["failure-reason"]).sort()).toEqual([
        "invalid-job",
        "rejected",
        "unauthorized",
        "unauthorized",
      ]);
      expect(
        dead.find((d) => d.attributes["failure-reason"] === "rejected")?.attributes[
          "failure-detail"
        ],
      ).toBe("token [redacted] may not delete");
      expect(lines.length).toBeGreaterThan(3);
      const everything = [...lines, ...dead.map((d) => JSON.stringify(d))].join("\n");
      expect(everything).not.toContain(TEST_TOKEN);
      expect(everything).not.toContain("SECRET-7f3a9c1e");
    } finally {
      Object.assign(console, original);
    }
  });

  it("fails at cold start with an error naming a missing variable, without the token", () => {
    expect(() =>
      createDeleteCsvHandler({ HIGHLEVEL_TOKEN: TEST_TOKEN, DEAD_LETTER_QUEUE_URL: "http://x/q" }),
    ).toThrow(/^QUEUE_URL is required$/);
  });
});
