import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type EmbeddedSqs,
  type PipelineQueues,
  startEmbeddedSqs,
} from "../../local/embedded-sqs.ts";
import { SandboxHighLevelApi } from "../../local/sandbox-api.ts";
import { startFakeCloudFormation } from "../helpers/fake-cloudformation.ts";
import { runCli, startCli } from "../helpers/run-cli.ts";

let sqs: EmbeddedSqs;
let queues: PipelineQueues;
let dir: string;
let env: Record<string, string>;

beforeEach(async () => {
  sqs = await startEmbeddedSqs();
  queues = await sqs.createPipelineQueues(`ops-${Date.now()}`, {
    maxReceiveCount: 5,
    visibilityTimeoutSeconds: 30,
  });
  dir = mkdtempSync(join(tmpdir(), "ghl-csv-purge-ops-"));
  env = {
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    QUEUE_URL: queues.queueUrl,
    DEAD_LETTER_QUEUE_URL: queues.deadLetterQueueUrl,
  };
});
afterEach(async () => {
  await sqs.stop();
  rmSync(dir, { recursive: true, force: true });
});

const name = (url: string) => url.split("/").pop() as string;
/** Every message on a queue, in flight included, read without consuming. */
function allBodies(url: string): string[] {
  const queue = sqs.server.inspectQueue(name(url));
  if (!queue) return [];
  return [
    ...queue.messages.ready,
    ...queue.messages.delayed,
    ...queue.messages.inflight.map((e) => e.message),
  ].map((m) => m.body);
}

async function seedDeadLetters(reasons: string[]) {
  const bodies: string[] = [];
  for (let i = 0; i < reasons.length; i += 10) {
    const entries = reasons.slice(i, i + 10).map((reason, j) => {
      const body = JSON.stringify({ locationId: "dlqLoc", csvId: `dead${i + j}` });
      bodies.push(body);
      return {
        Id: String(j),
        MessageBody: body,
        MessageAttributes:
          reason === "unknown"
            ? undefined
            : {
                "failure-reason": { DataType: "String", StringValue: reason },
                "failure-status": {
                  DataType: "Number",
                  StringValue: reason === "exhausted" ? "503" : "422",
                },
                "failure-detail": { DataType: "String", StringValue: `detail for ${reason}` },
                "failed-at": {
                  DataType: "String",
                  StringValue: new Date(Date.UTC(2026, 10, 1 + ((i + j) % 20))).toISOString(),
                },
              },
      };
    });
    await sqs.client.send(
      new SendMessageBatchCommand({ QueueUrl: queues.deadLetterQueueUrl, Entries: entries }),
    );
  }
  return bodies;
}

describe("ghl-csv-purge enqueue", () => {
  // 10,000 prove the streaming (each job once, progress, bounded memory); the time and memory
  // of 100,000 and 1,000,000 are measured by `npm run bench` (issue #28).
  it("streams 10,000 jobs from a file into the queue, each once, with progress and bounded memory", async () => {
    const file = join(dir, "jobs.csv");
    const lines = ["locationId,csvId,reason"];
    for (let i = 0; i < 10_000; i++) lines.push(`loc${i % 50},csv${i},bulk`);
    writeFileSync(file, `${lines.join("\n")}\n`);

    const result = await runCli(["enqueue", file, "--json"], env);

    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({
      valid: 10_000,
      invalid: 0,
      sent: 10_000,
      failed: 0,
      locations: 50,
    });
    expect(result.stderr).toMatch(/enqueueing: \d+\/10000/);
    const bodies = allBodies(queues.queueUrl);
    expect(bodies).toHaveLength(10_000);
    expect(new Set(bodies).size).toBe(10_000);
    expect(JSON.parse(bodies[0] as string)).toMatchObject({ reason: "bulk" });
    expect(summary.peakRssMiB).toBeLessThan(400);
  });

  it("reads JSONL from stdin", async () => {
    const input = `${[1, 2, 3].map((i) => JSON.stringify({ locationId: "stdinLoc", csvId: `c${i}` })).join("\n")}\n`;
    const result = await runCli(["enqueue", "-"], env, input);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("sent 3 of 3 job(s)");
    expect(allBodies(queues.queueUrl)).toHaveLength(3);
  });

  it("sends nothing when a line is invalid, naming it, and exits 1", async () => {
    const file = join(dir, "bad.jsonl");
    writeFileSync(
      file,
      '{"locationId":"l","csvId":"ok"}\n{"locationId":"l","csvId":"no/pe"}\nnot json\n',
    );
    const result = await runCli(["enqueue", file], env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain(
      "2 invalid line(s), nothing was sent (line 2: csvId: may contain only",
    );
    expect(result.stderr).toContain("line 3: not valid JSON");
    expect(allBodies(queues.queueUrl)).toHaveLength(0);
  });

  it("counts without sending on --dry-run", async () => {
    const file = join(dir, "jobs.csv");
    writeFileSync(file, "locationId,csvId\nl1,c1\nl2,c2\n");
    const result = await runCli(["enqueue", file, "--dry-run"], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      "dry run: 2 valid job(s) for 2 location(s), 0 invalid; nothing sent",
    );
    expect(allBodies(queues.queueUrl)).toHaveLength(0);
  });

  it("explains a CSV without the right header and a missing queue URL", async () => {
    const file = join(dir, "jobs.csv");
    writeFileSync(file, "location,csv\nl1,c1\n");
    const header = await runCli(["enqueue", file], env);
    expect(header.code).toBe(2);
    expect(header.stderr).toContain(
      "the CSV header must name the columns locationId and csvId (found: location, csv)",
    );
    const noQueue = await runCli(["enqueue", file], { ...env, QUEUE_URL: "" });
    expect(noQueue.code).toBe(2);
    expect(noQueue.stderr.trim()).toBe(
      "ghl-csv-purge: --queue-url is required (or --stack, or set QUEUE_URL)",
    );
  });

  it("finds the queues in a deployed stack's outputs with --stack", async () => {
    const cloudFormation = await startFakeCloudFormation("GhlCsvPurge", {
      QueueUrl: queues.queueUrl,
      DeadLetterQueueUrl: queues.deadLetterQueueUrl,
    });
    try {
      const file = join(dir, "jobs.csv");
      writeFileSync(file, "locationId,csvId\nl1,c1\nl2,c2\n");
      const stackEnv = {
        ...env,
        QUEUE_URL: "",
        DEAD_LETTER_QUEUE_URL: "",
        AWS_ENDPOINT_URL_CLOUDFORMATION: cloudFormation.endpoint,
      };
      const sent = await runCli(["enqueue", file, "--stack", "GhlCsvPurge"], stackEnv);
      expect(sent.code).toBe(0);
      expect(allBodies(queues.queueUrl)).toHaveLength(2);
      const inspected = await runCli(
        ["dlq", "inspect", "--stack", "GhlCsvPurge", "--json"],
        stackEnv,
      );
      expect(JSON.parse(inspected.stdout).total).toBe(0);
      const missing = await runCli(["enqueue", file, "--stack", "Nope"], stackEnv);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain(
        "could not read the outputs of stack Nope: ValidationError: Stack with id Nope does not exist",
      );
      expect(cloudFormation.requests).toEqual([
        "DescribeStacks GhlCsvPurge",
        "DescribeStacks GhlCsvPurge",
        "DescribeStacks Nope",
      ]);
    } finally {
      await cloudFormation.stop();
    }
  });
});

describe("ghl-csv-purge purge", () => {
  it("prints the plan on --dry-run and enqueues it without", async () => {
    const sandbox = new SandboxHighLevelApi({ tokens: ["purge-cli-token"] });
    const baseUrl = await sandbox.start();
    try {
      for (let i = 0; i < 12; i++) {
        sandbox.addUpload("cliLoc", {
          _id: `cliCsv${i}`,
          status: i % 2 ? "failed" : "completed",
          createdAt: new Date(Date.now() - (i * 10 + 1) * 86_400_000).toISOString(),
          // Upload 7 still has a post to publish tomorrow: the purge must keep it.
          posts: i === 7 ? [new Date(Date.now() + 86_400_000).toISOString()] : undefined,
        });
      }
      const args = [
        "purge",
        "-l",
        "cliLoc",
        "--older-than",
        "45d",
        "--status",
        "failed",
        "--base-url",
        baseUrl,
      ];
      const cliEnv = { ...env, HIGHLEVEL_TOKEN: "purge-cli-token" };
      const dry = await runCli([...args, "--dry-run"], cliEnv);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toMatch(
        /locationId\s+csvId\s+fileName\s+status\s+created\s+posts\s+future\s+decision/,
      );
      expect(dry.stdout).toMatch(/cliCsv7 .* 1\s+1\s+protected: 1 post\(s\) still scheduled/);
      expect(dry.stdout).toMatch(/cliCsv9 .* 5\s+0\s+delete/);
      expect(dry.stdout).toContain("to delete 3; protected 1");
      expect(dry.stdout).toContain("posts removed with them: 15, none still scheduled");
      expect(dry.stdout).toContain("dry run: nothing enqueued");
      expect(allBodies(queues.queueUrl)).toHaveLength(0);
      const json = JSON.parse((await runCli([...args, "--dry-run", "--json"], cliEnv)).stdout);
      expect(json.totals).toMatchObject({ delete: 3, protected: 1, postsRemoved: 15 });
      expect(json.uploads.find((u: { csvId: string }) => u.csvId === "cliCsv7")).toMatchObject({
        decision: "protected",
        posts: { total: 1, future: 1, past: 0 },
      });

      const real = await runCli(args, cliEnv);
      expect(real.code).toBe(0);
      expect(real.stdout).toContain("enqueued 3 deletion(s)");
      expect(allBodies(queues.queueUrl)).toHaveLength(3);
      expect(allBodies(queues.queueUrl).join()).not.toContain("cliCsv7");
    } finally {
      await sandbox.stop();
    }
  });

  it("refuses a status that does not exist", async () => {
    const result = await runCli(["purge", "-l", "x", "--status", "gone", "--dry-run"], {
      ...env,
      HIGHLEVEL_TOKEN: "t",
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("statuses.0: must be one of");
  });

  it("refuses --status deleted in one line, exit 2", async () => {
    const result = await runCli(
      ["purge", "-l", "x", "--status", "completed,deleted", "--dry-run"],
      {
        ...env,
        HIGHLEVEL_TOKEN: "t",
      },
    );
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toEqual([
      expect.stringContaining("statuses.1: deleted uploads are gone already"),
    ]);
  });
});

describe("ghl-csv-purge dlq", () => {
  it("inspect counts by reason and status, and leaves every message on the DLQ", async () => {
    await seedDeadLetters([...Array(5).fill("exhausted"), ...Array(3).fill("rejected"), "unknown"]);
    const result = await runCli(["dlq", "inspect", "--json"], env);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({
      total: 9,
      byReason: { exhausted: 5, rejected: 3, unknown: 1 },
      byStatus: { "503": 5, "422": 3, none: 1 },
    });
    expect(
      summary.samples.filter((s: { reason: string }) => s.reason === "exhausted"),
    ).toHaveLength(2);
    const text = await runCli(["dlq", "inspect"], env);
    expect(text.stdout).toContain("9 dead letter(s)");
    expect(allBodies(queues.deadLetterQueueUrl)).toHaveLength(9);
    const visible = sqs.server.inspectQueue(name(queues.deadLetterQueueUrl))?.messages.ready.length;
    expect(visible).toBe(9);
  });

  it("redrive --reason exhausted moves only those, bodies unchanged; the rest stay", async () => {
    const bodies = await seedDeadLetters([
      ...Array(25).fill("exhausted"),
      ...Array(7).fill("rejected"),
      ...Array(2).fill("unknown"),
    ]);
    const dry = await runCli(["dlq", "redrive", "--reason", "exhausted", "--dry-run"], env);
    expect(dry.stdout).toContain("dry run: 25");
    expect(allBodies(queues.queueUrl)).toHaveLength(0);

    const result = await runCli(["dlq", "redrive", "--reason", "exhausted", "--json"], env);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ method: "receive-send-delete", moved: 25 });
    expect(allBodies(queues.queueUrl).sort()).toEqual(bodies.slice(0, 25).sort());
    expect(allBodies(queues.deadLetterQueueUrl).sort()).toEqual(bodies.slice(25).sort());
    expect(sqs.server.inspectQueue(name(queues.deadLetterQueueUrl))?.messages.ready).toHaveLength(
      9,
    );
  });

  it("falls back to receive-send-delete where move tasks do not exist, and honours --max", async () => {
    await seedDeadLetters(Array(12).fill("rejected"));
    const limited = await runCli(["dlq", "redrive", "--max", "5", "--json"], env);
    expect(JSON.parse(limited.stdout)).toMatchObject({ moved: 5 });
    const all = await runCli(["dlq", "redrive", "--json"], env);
    const report = JSON.parse(all.stdout);
    expect(report.moved).toBe(7);
    expect(report.fallbackReason).toBeTruthy();
    expect(allBodies(queues.queueUrl)).toHaveLength(12);
  });

  it("loses nothing when killed halfway through a redrive", async () => {
    const bodies = await seedDeadLetters([
      ...Array(400).fill("exhausted"),
      ...Array(20).fill("rejected"),
    ]);
    const run = startCli(["dlq", "redrive", "--reason", "exhausted"], env);
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (allBodies(queues.queueUrl).length >= 50) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
    run.child.kill("SIGKILL");
    await run.exit;

    const moved = allBodies(queues.queueUrl);
    const left = allBodies(queues.deadLetterQueueUrl);
    expect(moved.length).toBeLessThan(400);
    const everywhere = new Set([...moved, ...left]);
    for (const body of bodies) expect(everywhere.has(body), `lost ${body}`).toBe(true);
    // At most the one message between its send and its delete is on both queues.
    expect(moved.length + left.length - bodies.length).toBeLessThanOrEqual(1);
  });
});
