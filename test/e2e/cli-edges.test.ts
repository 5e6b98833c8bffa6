import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReceiveMessageCommand, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type EmbeddedSqs,
  type PipelineQueues,
  startEmbeddedSqs,
} from "../../local/embedded-sqs.ts";
import { SandboxHighLevelApi } from "../../local/sandbox-api.ts";
import { runCli, startCli } from "../helpers/run-cli.ts";

/**
 * The edges a user meets first (issue #11): each ends in one clear line and the right exit
 * code, with nothing lost. The CLI runs as a child process against fauxqs and the sandbox.
 */
let sqs: EmbeddedSqs;
let queues: PipelineQueues;
let dir: string;
let env: Record<string, string>;
const servers: Server[] = [];

beforeEach(async () => {
  sqs = await startEmbeddedSqs();
  queues = await sqs.createPipelineQueues(`edges-${Date.now()}`, {
    maxReceiveCount: 5,
    visibilityTimeoutSeconds: 30,
  });
  dir = mkdtempSync(join(tmpdir(), "ghl-csv-purge-edges-"));
  env = {
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    QUEUE_URL: queues.queueUrl,
    DEAD_LETTER_QUEUE_URL: queues.deadLetterQueueUrl,
  };
});
afterEach(async () => {
  await sqs.stop();
  for (const server of servers.splice(0)) server.close();
  rmSync(dir, { recursive: true, force: true });
});

const queueName = (url: string) => url.split("/").pop() as string;
const readyBodies = (url: string) =>
  sqs.server.inspectQueue(queueName(url))?.messages.ready.map((m) => m.body) ?? [];
const stderrLines = (stderr: string) => stderr.trim().split("\n").filter(Boolean);

function jobsFile(lines: string[], fileName = "jobs.csv"): string {
  const path = join(dir, fileName);
  writeFileSync(path, `locationId,csvId\n${lines.join("\n")}\n`);
  return path;
}

const validLines = (count: number) =>
  Array.from({ length: count }, (_, i) => `edgeLoc${i % 3},csv${i}`);

/** An SQS endpoint on 127.0.0.1 that refuses every request's credentials, as AWS does. */
async function credentialRefusingEndpoint(): Promise<string> {
  const server = createServer((_request, response) => {
    response.writeHead(403, {
      "content-type": "application/x-amz-json-1.0",
      "x-amzn-query-error": "InvalidClientTokenId;Sender",
    });
    response.end(
      JSON.stringify({
        __type: "com.amazon.coral.service#InvalidClientTokenId",
        message: "The security token included in the request is invalid.",
      }),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  return `http://127.0.0.1:${address.port}`;
}

describe("enqueue stops at once on failures no retry can mend", () => {
  it.each([
    [
      "a queue that does not exist",
      () => ({ QUEUE_URL: `${queues.queueUrl}-missing` }),
      "does not exist: check --queue-url (or --stack) and --region",
    ],
    [
      "an endpoint nobody answers on",
      () => ({ AWS_ENDPOINT_URL_SQS: "http://127.0.0.1:9" }),
      "cannot reach SQS at http://127.0.0.1:9",
    ],
    [
      "refused credentials",
      async () => ({ AWS_ENDPOINT_URL_SQS: await credentialRefusingEndpoint() }),
      "AWS refused the credentials (InvalidClientTokenId)",
    ],
    [
      "no region anywhere",
      () => ({
        AWS_ENDPOINT_URL_SQS: "",
        QUEUE_URL: "http://127.0.0.1:9/000000000000/jobs",
        AWS_REGION: "",
        AWS_DEFAULT_REGION: "",
        AWS_CONFIG_FILE: join(dir, "no-config"),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, "no-credentials"),
      }),
      "no AWS region: pass --region, or set AWS_REGION",
    ],
  ])("%s: exit 1 within seconds, one line saying what to fix", async (_, overrides, message) => {
    const file = jobsFile(validLines(1_000));
    const started = Date.now();
    const result = await runCli(["enqueue", file], { ...env, ...(await overrides()) });
    expect(result.code).toBe(1);
    expect(stderrLines(result.stderr)).toEqual([expect.stringContaining(message)]);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(readyBodies(queues.queueUrl)).toHaveLength(0);
  });
});

describe("enqueue: input errors are usage errors", () => {
  it.each([
    ["a missing file", () => join(dir, "nope.csv"), 2, "no such file"],
    ["a directory", () => dir, 2, "is a directory"],
    [
      "a binary file",
      () => {
        writeFileSync(join(dir, "x.csv"), Buffer.from([0x50, 0x4b, 3, 4, 0, 0, 9, 9, 0, 1]));
        return join(dir, "x.csv");
      },
      2,
      "looks binary",
    ],
    [
      "a semicolon CSV without --delimiter",
      () => {
        writeFileSync(join(dir, "semi.csv"), "locationId;csvId\nl1;c1\n");
        return join(dir, "semi.csv");
      },
      2,
      'pass --delimiter ";"',
    ],
    ["a header-only file", () => jobsFile([]), 1, "no jobs in"],
  ])("%s → exit %i with one line", async (_, path, code, message) => {
    const result = await runCli(["enqueue", path(), "--skip-invalid"], env);
    expect(result.code).toBe(code);
    expect(stderrLines(result.stderr)).toEqual([expect.stringContaining(message)]);
    expect(result.stderr).not.toContain("unexpected failure");
  });

  it("takes a semicolon CSV with --delimiter and a loosely written header", async () => {
    writeFileSync(join(dir, "semi.csv"), " LocationID ; CSVID \nl1;c1\nl2;c2\n");
    const result = await runCli(["enqueue", join(dir, "semi.csv"), "--delimiter", ";"], env);
    expect(result.code).toBe(0);
    expect(readyBodies(queues.queueUrl)).toHaveLength(2);
  });
});

describe("enqueue tells what happened", () => {
  it("--skip-invalid names the skipped lines: the first 20 in text, all in --json", async () => {
    const lines = [...validLines(10), ...Array.from({ length: 25 }, (_, i) => `bad/${i},x`)];
    const file = jobsFile(lines);

    const text = await runCli(["enqueue", file, "--skip-invalid"], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("skipped 25 invalid line(s)");
    expect(text.stdout).toContain("line 12: locationId");
    expect(text.stdout).toContain("line 31: locationId");
    expect(text.stdout).not.toContain("line 32:");
    expect(text.stdout).toContain("and 5 more");

    const json = JSON.parse(
      (await runCli(["enqueue", file, "--skip-invalid", "--json"], env)).stdout,
    );
    expect(json.skippedLines).toHaveLength(25);
    expect(json.skippedLines[24]).toEqual({
      line: 36,
      error: expect.stringContaining("locationId"),
    });
    expect(json.sent).toBe(10);
  });

  it("Ctrl-C reports what was sent and the --from-line that resumes; exit 130; the rerun loses nothing", async () => {
    const count = 20_000;
    const file = jobsFile(validLines(count));
    const run = startCli(["enqueue", file, "--concurrency", "2"], env);
    await new Promise<void>((resolve) => {
      run.child.stderr?.on("data", () => {
        if (run.stderr().includes("enqueueing:")) resolve();
      });
    });
    run.child.kill("SIGINT");
    expect(await run.exit).toBe(130);
    const resume = run.stderr().match(/--from-line (\d+) --run-id (\S+) /);
    expect(resume).not.toBeNull();
    const fromLine = Number(resume?.[1]);
    const runId = resume?.[2] as string;
    expect(run.stderr()).toContain(`run ${runId}`);
    expect(run.stdout()).toMatch(/sent \d+ of 20000 job\(s\)/);
    const sentBefore = readyBodies(queues.queueUrl).length;
    expect(sentBefore).toBeLessThan(count);
    // Every line before the resume point is on the queue.
    const withoutRun = (body: string) => {
      const { runId: jobRun, ...job } = JSON.parse(body);
      expect(jobRun).toBe(runId);
      return JSON.stringify(job);
    };
    const queued = new Set(readyBodies(queues.queueUrl).map(withoutRun));
    for (let line = 2; line < fromLine; line += 997) {
      const i = line - 2;
      expect(queued.has(JSON.stringify({ locationId: `edgeLoc${i % 3}`, csvId: `csv${i}` }))).toBe(
        true,
      );
    }

    const rerun = await runCli(
      ["enqueue", file, "--from-line", String(fromLine), "--run-id", runId, "--json"],
      env,
    );
    expect(rerun.code).toBe(0);
    expect(JSON.parse(rerun.stdout).runId).toBe(runId);
    const all = new Set(readyBodies(queues.queueUrl).map(withoutRun));
    expect(all.size).toBe(count);
  }, 120_000);
});

describe("dlq", () => {
  async function seedDeadLetters(count: number) {
    for (let i = 0; i < count; i += 10) {
      await sqs.client.send(
        new SendMessageBatchCommand({
          QueueUrl: queues.deadLetterQueueUrl,
          Entries: Array.from({ length: Math.min(10, count - i) }, (_, j) => ({
            Id: String(j),
            MessageBody: JSON.stringify({ locationId: "dlqLoc", csvId: `dead${i + j}` }),
          })),
        }),
      );
    }
  }

  it("a redrive to a queue that does not exist fails in one line and hides nothing", async () => {
    await seedDeadLetters(25);
    const result = await runCli(
      ["dlq", "redrive", "--queue-url", `${queues.queueUrl}-missing`, "--reason", "unknown"],
      env,
    );
    expect(result.code).toBe(1);
    expect(stderrLines(result.stderr)).toEqual([expect.stringContaining("does not exist")]);
    const inspect = JSON.parse((await runCli(["dlq", "inspect", "--json"], env)).stdout);
    expect(inspect).toMatchObject({ total: 25, inFlight: 0 });
  });

  it("inspect and redrive say how many dead letters another reader holds in flight", async () => {
    await seedDeadLetters(12);
    await sqs.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queues.deadLetterQueueUrl,
        MaxNumberOfMessages: 5,
        VisibilityTimeout: 60,
      }),
    );
    const text = await runCli(["dlq", "inspect"], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("7 dead letter(s)");
    expect(text.stdout).toContain("5 more in flight");
    const redrive = await runCli(["dlq", "redrive", "--reason", "unknown"], env);
    expect(redrive.code, redrive.stderr).toBe(0);
    expect(redrive.stdout).toContain('moved 7 "unknown" dead letters back to the jobs queue');
    expect(redrive.stdout).toContain(
      "5 left on the dead-letter queue because another reader held them",
    );
  });

  it("redrive --stack is accepted and --yes skips the question", async () => {
    const help = await runCli(["dlq", "redrive", "--help"], env);
    expect(help.stdout).toContain("--stack <name>");
    expect(help.stdout).toContain("--yes");
    expect(help.stdout).toContain("--region <region>");
    expect(help.stdout).toContain("--profile <name>");
  });
});

describe("purge and the conventions", () => {
  it.each([
    [["--max-jobs", "abc"], '--max-jobs must be a whole number ≥ 1, got "abc"'],
    [["--base-url", "notaurl"], "--base-url must be a URL"],
  ])("purge %j → exit 2, one line", async (flags, message) => {
    const result = await runCli(["purge", "-l", "locA", "--dry-run", ...flags], {
      ...env,
      HIGHLEVEL_TOKEN: "t",
    });
    expect(result.code).toBe(2);
    expect(stderrLines(result.stderr)).toEqual([expect.stringContaining(message)]);
  });

  it("purge says the token is wrong when HighLevel answers 401 while listing", async () => {
    const sandbox = new SandboxHighLevelApi({ tokens: ["the-right-token"] });
    const baseUrl = await sandbox.start();
    try {
      const result = await runCli(["purge", "-l", "locA", "--dry-run", "--base-url", baseUrl], {
        ...env,
        HIGHLEVEL_TOKEN: "a-wrong-token",
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("HighLevel refused the token for locA");
      expect(result.stderr).toContain("check the token from HIGHLEVEL_TOKEN");
      expect(result.stderr).not.toContain("a-wrong-token");
    } finally {
      await sandbox.stop();
    }
  });

  it("--version prints the package's version", async () => {
    const result = await runCli(["--version"]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("--quiet prints no progress", async () => {
    const result = await runCli(["enqueue", jobsFile(validLines(50)), "--quiet"], env);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
  });
});

describe("status", () => {
  it("reports jobs waiting, in flight, delayed and dead-lettered as JSON, locally without metrics", async () => {
    const { SendMessageCommand } = await import("@aws-sdk/client-sqs");
    for (let i = 0; i < 6; i++) {
      await sqs.client.send(
        new SendMessageCommand({
          QueueUrl: queues.queueUrl,
          MessageBody: `{"locationId":"s","csvId":"c${i}"}`,
        }),
      );
    }
    await sqs.client.send(
      new SendMessageCommand({
        QueueUrl: queues.queueUrl,
        MessageBody: '{"locationId":"s","csvId":"late"}',
        DelaySeconds: 600,
      }),
    );
    await sqs.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queues.queueUrl,
        MaxNumberOfMessages: 2,
        VisibilityTimeout: 60,
      }),
    );
    await sqs.client.send(
      new SendMessageBatchCommand({
        QueueUrl: queues.deadLetterQueueUrl,
        Entries: ["rejected", "rejected", "exhausted"].map((reason, i) => ({
          Id: String(i),
          MessageBody: `{"locationId":"s","csvId":"d${i}"}`,
          MessageAttributes: { "failure-reason": { DataType: "String", StringValue: reason } },
        })),
      }),
    );

    const result = await runCli(["status", "--json"], env);
    expect(result.code).toBe(0);
    const status = JSON.parse(result.stdout);
    expect(status).toMatchObject({
      queue: { waiting: 4, inFlight: 2, delayed: 1 },
      deadLetters: { total: 3, byReason: { rejected: 2, exhausted: 1 } },
    });
    expect(status.notes[0]).toContain("no CloudWatch metrics");
    const text = await runCli(["status"], env);
    expect(text.stdout).toMatch(/delayed \(deferred\)\s+1/);
  });
});
