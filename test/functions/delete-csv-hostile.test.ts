import type { IncomingMessage, ServerResponse } from "node:http";
import { ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse } from "aws-lambda";
import { afterEach, describe, expect, it } from "vitest";
import { RatePacer } from "../../functions/core/highlevel/rate-pacer.ts";
import type { WorkerLog } from "../../functions/core/worker/deletion-worker.ts";
import { createDeleteCsvHandler } from "../../functions/delete-csv/create-handler.ts";
import { toSqsEvent } from "../../local/sqs-event.ts";
import { hostileAnswers } from "../helpers/hostile-answers.ts";
import {
  type HostileServer,
  json,
  type Responder,
  startHostileServer,
  startSilentServer,
  stream,
  trickle,
} from "../helpers/hostile-server.ts";
import { lambdaContext } from "../helpers/lambda-context.ts";
import { startWorkerHarness, TEST_TOKEN, type WorkerHarness } from "../helpers/worker-harness.ts";

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (stops.length > 0) await stops.pop()?.();
});

/** Who stops what a test started: the file's list, or a concurrent test's own `onTestFinished`. */
type Cleanup = (stop: () => Promise<void>) => void;
const afterThisTest: Cleanup = (stop) => {
  stops.push(stop);
};

async function hostile(
  responders: { delete?: Responder; get?: Responder },
  cleanup: Cleanup = afterThisTest,
) {
  const server = await startHostileServer(responders);
  cleanup(server.stop);
  return server;
}

async function harnessFor(
  server: HostileServer,
  options: Parameters<typeof startWorkerHarness>[0] = {},
  cleanup: Cleanup = afterThisTest,
): Promise<WorkerHarness> {
  const h = await startWorkerHarness({
    ...options,
    env: { HIGHLEVEL_BASE_URL: server.url, ...options.env },
  });
  cleanup(h.stop);
  return h;
}

/** A log that keeps every line, to measure what the worker writes. */
function capturingLog() {
  const lines: string[] = [];
  const write =
    (level: string) =>
    (message: string, ...extra: Record<string, unknown>[]) =>
      lines.push(JSON.stringify({ level, message, ...Object.assign({}, ...extra) }));
  const log: WorkerLog = {
    debug: write("DEBUG"),
    info: write("INFO"),
    warn: write("WARN"),
    error: write("ERROR"),
  };
  return { log, lines, bytes: () => lines.reduce((sum, line) => sum + line.length, 0) };
}

/** An SQS event of `count` jobs (m-1 …) that no queue holds: for endpoints that never answer. */
function eventOfJobs(count: number) {
  return toSqsEvent(
    Array.from({ length: count }, (_, i) => ({
      MessageId: `m-${i + 1}`,
      ReceiptHandle: `r-${i + 1}`,
      Body: JSON.stringify({ locationId: "locA", csvId: `csv${i + 1}` }),
      Attributes: { ApproximateReceiveCount: "1" },
    })),
    "arn:aws:sqs:us-east-1:000000000000:jobs",
  );
}

const badRequest: Responder = (_request, response) =>
  json(response, 400, { message: "Bad Request" });
const uploadStillThere: Responder = (_request, response) =>
  json(response, 200, { results: { csv: { _id: "csv1", status: "completed" } } });
const throttled =
  (intervalMs: string, headers: Record<string, string> = {}): Responder =>
  (_request, response) =>
    json(
      response,
      429,
      { message: "Too many requests" },
      { "x-ratelimit-interval-milliseconds": intervalMs, ...headers },
    );

const deleted = (response: ServerResponse) => json(response, 200, { success: true });

describe("hostile answers: a 2xx is not a deletion until HighLevel says so", async () => {
  const elsewhere = await startHostileServer({
    delete: (_request, response) => deleted(response),
    get: (_request, response) => deleted(response),
  });
  stops.push(elsewhere.stop);
  const cases = hostileAnswers(elsewhere);

  it.each(cases)("$name", async ({ answer, check, expected }) => {
    const server = await hostile({
      delete: (_request: IncomingMessage, response: ServerResponse) => answer(response),
      ...(check && {
        get: (_request: IncomingMessage, response: ServerResponse) => check(response),
      }),
    });
    const h = await harnessFor(server);
    const body = h.job("locA", "csv1");
    await h.send(body);

    const { response } = await h.deliver(10_000);

    expect(response.batchItemFailures).toEqual([]);
    expect(elsewhere.calls).toHaveLength(0);
    expect(server.count("DELETE")).toBe(1);
    expect(h.results.map((r) => r.outcome)).toEqual([expected.outcome]);
    expect(h.results.map((r) => r.outcome)).not.toContain("deleted");
    expect(h.pending()).toHaveLength(0);
    if (expected.outcome === "dead-lettered") {
      const [letter] = h.deadLetters();
      expect(letter?.body).toBe(body);
      expect(letter?.attributes["failure-reason"]).toBe(expected.reason);
      expect(letter?.attributes["failure-status"]).toBe(String(expected.status));
      expect(letter?.attributes["failure-detail"]).toMatch(expected.detail);
      expect(letter?.attributes["failure-detail"]).not.toContain(TEST_TOKEN);
    } else {
      expect(h.deadLetters()).toHaveLength(0);
    }
  });

  it("never sends the token to the host a redirect names", async () => {
    const server = await hostile({
      delete: (_request, response) => {
        response.writeHead(307, { location: `${elsewhere.url}/steal` });
        response.end();
      },
    });
    const h = await harnessFor(server);
    await h.send(h.job("locA", "csv1"));
    await h.deliver(10_000);
    expect(elsewhere.calls).toHaveLength(0);
    expect(server.calls[0]?.headers.authorization).toBe(`Bearer ${TEST_TOKEN}`);
  });
});

describe("hostile answers: the retry and throttle rules", () => {
  it.each([501, 505, 520, 599])(
    "retries a %i like any 5xx and deletes on the third call",
    async (status) => {
      const server = await hostile({
        delete: (_request, response, n) =>
          n < 3 ? json(response, status, { message: "upstream" }) : deleted(response),
      });
      const h = await harnessFor(server, { env: { HIGHLEVEL_MAX_ATTEMPTS: "3" } });
      await h.send(h.job("locA", "csv1"));

      const { response } = await h.deliver(10_000);

      expect(response.batchItemFailures).toEqual([]);
      expect(server.count("DELETE")).toBe(3);
      expect(h.results.map((r) => r.outcome)).toEqual(["deleted"]);
    },
  );

  it.each(["1", "0.001"])(
    "makes one call, not a storm, when a 429 names an interval of %s ms",
    async (interval) => {
      const server = await hostile({
        delete: throttled(interval, { "x-ratelimit-remaining": "0", "x-ratelimit-max": "100" }),
      });
      const h = await harnessFor(server);
      const body = h.job("locA", "csv1");
      await h.send(body);

      const { response } = await h.deliver(6_000);

      expect(response.batchItemFailures).toEqual([]);
      // The interval is ignored: the default 10 s window outlasts the invocation, so the job is deferred.
      expect(server.count("DELETE")).toBe(1);
      expect(h.results.map((r) => r.outcome)).toEqual(["deferred"]);
      const [deferred] = h.pending();
      expect(deferred?.body).toBe(body);
      expect(deferred?.messageAttributes?.deferrals?.StringValue).toBe("1");
    },
  );

  it("draws at most 5 throttled answers per job in one invocation, then defers it", async () => {
    const server = await hostile({
      delete: throttled("200"),
    });
    const h = await harnessFor(server);
    await h.send(h.job("locA", "csv1"));

    const started = Date.now();
    const { response } = await h.deliver(9_000);

    expect(Date.now() - started).toBeLessThan(9_000);
    expect(response.batchItemFailures).toEqual([]);
    expect(server.count("DELETE")).toBe(5);
    expect(h.results.map((r) => r.outcome)).toEqual(["deferred"]);
    expect(h.deadLetters()).toHaveLength(0);
  });

  it("defers, rather than exhausting, a job whose GET check is throttled on its last receive", async () => {
    const server = await hostile({
      delete: badRequest,
      get: throttled("2000"),
    });
    const h = await harnessFor(server, { maxReceiveCount: 1 });
    await h.send(h.job("locA", "csv1"));

    const { response } = await h.deliver(10_000);

    expect(response.batchItemFailures).toEqual([]);
    expect(h.results.map((r) => r.outcome)).toEqual(["deferred"]);
    expect(h.deadLetters()).toHaveLength(0);
    expect(h.pending()[0]?.messageAttributes?.deferrals?.StringValue).toBe("1");
  });

  it("is not poisoned by an absurd interval: the location's next job is called, not deferred", async () => {
    const server = await hostile({
      delete: (request, response, n) =>
        n === 1 ? throttled("999999999")(request, response, n) : deleted(response),
    });
    const h = await harnessFor(server, {
      overrides: { pacer: new RatePacer({ defaultIntervalMs: 1_000 }) },
    });
    await h.send(h.job("locA", "csv1"));
    await h.send(h.job("locA", "csv2"));

    const { response } = await h.deliver(10_000);

    expect(response.batchItemFailures).toEqual([]);
    expect(h.results.map((r) => r.outcome).sort()).toEqual(["deleted", "deleted"]);
    expect(server.count("DELETE")).toBe(3);
  });

  it("keeps deleting for a location whose whole budget is one call", async () => {
    const server = await hostile({
      delete: (_request, response) =>
        json(
          response,
          200,
          { success: true },
          {
            "x-ratelimit-max": "1",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-interval-milliseconds": "200",
          },
        ),
    });
    const h = await harnessFor(server);
    for (const id of ["csv1", "csv2", "csv3"]) await h.send(h.job("locA", id));

    const { response } = await h.deliver(10_000);

    expect(response.batchItemFailures).toEqual([]);
    expect(h.results.map((r) => r.outcome)).toEqual(["deleted", "deleted", "deleted"]);
    expect(server.count("DELETE")).toBe(3);
  });
});

// Each case waits out a 5 s deadline doing almost nothing: they wait side by side, each
// stopping what it started.
describe.concurrent("hostile answers: every wait ends by the deadline", () => {
  const trickled = (status: number) => (_request: IncomingMessage, response: ServerResponse) =>
    trickle(response, status, JSON.stringify({ message: "slowly", statusCode: status }));

  it.for([200, 400, 404, 429])(
    "returns within a 5 s context when a %i body is trickled a byte a second",
    async (status, { onTestFinished }) => {
      const server = await hostile(
        { delete: trickled(status), get: trickled(200) },
        onTestFinished,
      );
      const h = await harnessFor(
        server,
        { env: { HIGHLEVEL_TIMEOUT_MS: "10000" } },
        onTestFinished,
      );
      await h.send(h.job("locA", "csv1"));
      await h.send(h.job("locB", "csv2"));

      const started = Date.now();
      const { response, messages } = await h.deliver(5_000);
      const elapsed = Date.now() - started;

      expect(elapsed).toBeLessThan(5_000);
      expect(messages).toHaveLength(2);
      // Nothing is lost: each job is settled, deferred or left for redelivery, never deleted on faith.
      expect(h.results).toHaveLength(2);
      expect(h.results.map((r) => r.outcome)).not.toContain("deleted");
      const ends = new Set(h.results.map((r) => r.outcome));
      const expectedEnd = {
        200: "redelivered",
        400: "redelivered",
        404: "already-absent",
        429: "deferred",
      }[status];
      expect([...ends]).toEqual([expectedEnd]);
      expect(response.batchItemFailures).toHaveLength(expectedEnd === "redelivered" ? 2 : 0);
    },
  );

  it("returns within a 5 s context when SQS accepts connections and never answers", async ({
    onTestFinished,
  }) => {
    const silent = await startSilentServer();
    onTestFinished(silent.stop);
    const server = await hostile({ delete: badRequest, get: uploadStillThere }, onTestFinished);
    const handler = createDeleteCsvHandler({
      HIGHLEVEL_BASE_URL: server.url,
      HIGHLEVEL_TOKEN: TEST_TOKEN,
      QUEUE_URL: `${silent.url}/000000000000/jobs`,
      DEAD_LETTER_QUEUE_URL: `${silent.url}/000000000000/jobs-dlq`,
      AWS_ENDPOINT_URL_SQS: silent.url,
    });
    const event = eventOfJobs(3);

    const started = Date.now();
    const response = (await handler(event, lambdaContext(5_000))) as SQSBatchResponse;

    expect(Date.now() - started).toBeLessThan(5_000);
    expect(silent.requests.length).toBeGreaterThan(0);
    // None could be dead-lettered: all stay on the queue.
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual([
      "m-1",
      "m-2",
      "m-3",
    ]);
  });

  it("returns within a 5 s context when Secrets Manager accepts connections and never answers", async ({
    onTestFinished,
  }) => {
    const silent = await startSilentServer();
    onTestFinished(silent.stop);
    const server = await hostile(
      { delete: (_request, response) => deleted(response) },
      onTestFinished,
    );
    const handler = createDeleteCsvHandler({
      HIGHLEVEL_BASE_URL: server.url,
      HIGHLEVEL_TOKEN_SECRET_ARN:
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:token-AbCdEf",
      AWS_ENDPOINT_URL_SECRETS_MANAGER: silent.url,
      QUEUE_URL: `${silent.url}/000000000000/jobs`,
      DEAD_LETTER_QUEUE_URL: `${silent.url}/000000000000/jobs-dlq`,
    });
    const event = eventOfJobs(1);

    const started = Date.now();
    const response = (await handler(event, lambdaContext(5_000))) as SQSBatchResponse;

    expect(Date.now() - started).toBeLessThan(5_000);
    expect(silent.requests.length).toBeGreaterThan(0);
    expect(server.calls).toHaveLength(0);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "m-1" }]);
  });
});

describe("hostile answers: memory and logs stay bounded", () => {
  it("reads ten 50 MB answers with under 64 MiB of memory growth", async () => {
    const written: number[] = [];
    const server = await hostile({
      delete: async (_request, response) => {
        written.push(await stream(response, 200, 50 * 1024 * 1024));
      },
      get: (_request, response) => json(response, 404, { message: "CSV not found" }),
    });
    const h = await harnessFor(server);
    for (let n = 0; n < 10; n++) await h.send(h.job("locA", `csv${n}`));
    global.gc?.();
    const before = process.memoryUsage();
    let peak = 0;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peak = Math.max(
        peak,
        now.heapUsed + now.arrayBuffers - before.heapUsed - before.arrayBuffers,
      );
    }, 5);

    const { response } = await h.deliver(30_000);
    clearInterval(sampler);

    expect(response.batchItemFailures).toEqual([]);
    // Each answer was too large to confirm the deletion: the GET check found the uploads gone.
    expect(h.results.map((r) => r.outcome)).toEqual(Array(10).fill("already-absent"));
    expect(peak).toBeLessThan(64 * 1024 * 1024);
    // The worker hung up early: far less than 50 MB left the server per answer.
    expect(Math.max(...written)).toBeLessThan(10 * 1024 * 1024);
  });

  it("logs and stores at most 1 KiB of a 50 MB message", async () => {
    const { letter, logs } = await rejectedWith("m".repeat(50 * 1024 * 1024));

    expect(letter?.attributes["failure-reason"]).toBe("rejected");
    expect(Buffer.byteLength(letter?.attributes["failure-detail"] ?? "")).toBeLessThanOrEqual(1024);
    expect(logs.bytes()).toBeLessThan(8 * 1024);
  });

  it("redacts a token that straddles the 1 KiB cut before cutting, so no part of it survives", async () => {
    const { letter, logs } = await rejectedWith(`${"m".repeat(1_010)} ${TEST_TOKEN} and more`);

    const detail = letter?.attributes["failure-detail"] ?? "";
    expect(detail).toMatch(/^m{1010} \[red/);
    for (const text of [detail, ...logs.lines]) {
      expect(text).not.toContain(TEST_TOKEN.slice(0, 8));
    }
  });
});

/** Runs one job that HighLevel refuses with `message` (400, upload still there). */
async function rejectedWith(message: string) {
  const server = await hostile({
    delete: (_request, response) => json(response, 400, { message }),
    get: uploadStillThere,
  });
  const logs = capturingLog();
  const h = await harnessFor(server, { overrides: { log: logs.log } });
  await h.send(h.job("locA", "csv1"));
  await h.deliver(10_000);
  const [letter] = h.deadLetters();
  return { letter, logs };
}

describe("parked once: duplicates and timeouts", () => {
  it("makes one deferral of a job that arrives three times in a throttled batch", async () => {
    const server = await hostile({
      delete: throttled("60000"),
    });
    const h = await harnessFor(server);
    const body = h.job("locA", "csv1");
    for (let n = 0; n < 3; n++) await h.send(body);

    const { response } = await h.deliver(5_000);

    expect(response.batchItemFailures).toEqual([]);
    expect(server.count("DELETE")).toBe(1);
    expect(h.results.map((r) => r.outcome).sort()).toEqual([
      "deferred",
      "duplicate-removed",
      "duplicate-removed",
    ]);
    expect(h.pending().map((m) => m.body)).toEqual([body]);
  });

  it("makes one dead letter of a job that arrives three times and is rejected", async () => {
    const server = await hostile({
      delete: badRequest,
      get: uploadStillThere,
    });
    const h = await harnessFor(server);
    const body = h.job("locA", "csv1");
    for (let n = 0; n < 3; n++) await h.send(body);

    await h.deliver(5_000);

    expect(h.deadLetters().map((d) => d.body)).toEqual([body]);
    expect(h.pending()).toHaveLength(0);
  });

  it("does not park a job twice when the invocation that parked it timed out", async () => {
    const server = await hostile({
      delete: badRequest,
      get: uploadStillThere,
    });
    const h = await harnessFor(server);
    await h.send(h.job("locA", "csv1"));

    // Lambda never got (or never acted on) the batch response: nothing is deleted by it.
    await h.deliver(5_000, { acknowledge: false });
    await h.deliver(5_000, { acknowledge: false });
    await h.deliver(5_000, { acknowledge: false });

    expect(h.deadLetters()).toHaveLength(1);
    expect(h.pending()).toHaveLength(0);
    expect(server.count("DELETE")).toBe(1);
  });

  it("dead-letters a body at the queue's size limit with fewer attributes rather than not at all", async () => {
    const server = await hostile({});
    const h = await harnessFor(server);
    // Not a job (not JSON), and so large that body and full attributes pass the 1 MiB limit.
    const body = "x".repeat(1024 * 1024 - 64);
    await h.sqs.client.send(
      new SendMessageCommand({ QueueUrl: h.queues.queueUrl, MessageBody: body }),
    );

    const { response } = await h.deliver(10_000);

    expect(response.batchItemFailures).toEqual([]);
    const [letter] = h.deadLetters();
    expect(letter?.body).toBe(body);
    expect(letter?.attributes["failure-reason"]).toBe("invalid-job");
    expect(letter?.attributes["failure-detail"]).toBeUndefined();
    expect(h.pending()).toHaveLength(0);
    const left = await h.sqs.client.send(
      new ReceiveMessageCommand({ QueueUrl: h.queues.queueUrl, WaitTimeSeconds: 0 }),
    );
    expect(left.Messages ?? []).toHaveLength(0);
  });
});
