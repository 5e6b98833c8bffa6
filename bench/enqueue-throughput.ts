import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { type IndexedJob, sendDeletionJobs } from "../functions/core/producers/enqueue.ts";
import { createLocalSqsClient } from "../local/embedded-sqs.ts";
import { startServers } from "./servers.ts";

export interface EnqueueResult {
  libraryJobs: number;
  librarySeconds: number;
  libraryPerSecond: number;
  oneByOneJobs: number;
  oneByOneSeconds: number;
  oneByOnePerSecond: number;
  speedup: number;
}

const SHIPPED_CLI = fileURLToPath(new URL("../dist/cli/bin.js", import.meta.url));

export interface EnqueueCliResult {
  jobs: number;
  seconds: number;
  jobsPerSecond: number;
  peakRssMiB: number;
}

/** The servers process with its queues only: no sandbox locations, no jobs. */
function startQueues() {
  return startServers({
    sandbox: { tokens: [] },
    locations: [],
    jobs: 0,
    visibilityTimeoutSeconds: 30,
    enqueue: false,
  });
}

async function* jobs(count: number): AsyncGenerator<IndexedJob> {
  for (let index = 0; index < count; index++) {
    yield { index, job: { locationId: `loc${index % 50}`, csvId: `csv${index}` } };
  }
}

/** The enqueue library (SendMessageBatch, bounded concurrency) against one SendMessage per job. */
export async function measureEnqueue(
  libraryJobs: number,
  oneByOneJobs: number,
): Promise<EnqueueResult> {
  const servers = await startQueues();
  const client = createLocalSqsClient(servers.sqsEndpoint);
  try {
    let started = performance.now();
    const report = await sendDeletionJobs(jobs(libraryJobs), {
      queueUrl: servers.queues.queueUrl,
      client,
      keepResults: "failures",
      concurrency: 8,
    });
    const librarySeconds = (performance.now() - started) / 1000;
    if (report.sent !== libraryJobs)
      throw new Error(`library sent ${report.sent} of ${libraryJobs}`);

    started = performance.now();
    for await (const { job } of jobs(oneByOneJobs)) {
      await client.send(
        new SendMessageCommand({
          QueueUrl: servers.queues.deadLetterQueueUrl,
          MessageBody: JSON.stringify(job),
        }),
      );
    }
    const oneByOneSeconds = (performance.now() - started) / 1000;
    const libraryPerSecond = libraryJobs / librarySeconds;
    const oneByOnePerSecond = oneByOneJobs / oneByOneSeconds;
    return {
      libraryJobs,
      librarySeconds,
      libraryPerSecond,
      oneByOneJobs,
      oneByOneSeconds,
      oneByOnePerSecond,
      speedup: libraryPerSecond / oneByOnePerSecond,
    };
  } finally {
    client.destroy();
    await servers.stop();
  }
}

/**
 * The shipped CLI (`dist/`, its own process) streaming a CSV file of `count` jobs over 50
 * locations into the queue: `ghl-csv-purge enqueue jobs.csv --json`, as a user runs it. Its own
 * summary gives the time and the process's peak RSS (the memory must stay flat as files grow).
 */
export async function measureEnqueueCli(count: number): Promise<EnqueueCliResult> {
  const servers = await startQueues();
  const dir = mkdtempSync(join(tmpdir(), "enqueue-bench-"));
  try {
    const file = join(dir, "jobs.csv");
    const lines = ["locationId,csvId,reason"];
    for (let i = 0; i < count; i++) lines.push(`loc${i % 50},csv${i},bulk`);
    writeFileSync(file, `${lines.join("\n")}\n`);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [SHIPPED_CLI, "enqueue", file, "--json", "--quiet"],
      {
        env: {
          ...process.env,
          AWS_ENDPOINT_URL_SQS: servers.sqsEndpoint,
          QUEUE_URL: servers.queues.queueUrl,
          AWS_REGION: "us-east-1",
          AWS_ACCESS_KEY_ID: "local",
          AWS_SECRET_ACCESS_KEY: "local",
        },
        maxBuffer: 16 << 20,
      },
    );
    const summary = JSON.parse(stdout) as {
      sent: number;
      seconds: number;
      jobsPerSecond: number;
      peakRssMiB: number;
    };
    if (summary.sent !== count) throw new Error(`the CLI sent ${summary.sent} of ${count}`);
    return {
      jobs: count,
      seconds: summary.seconds,
      jobsPerSecond: summary.jobsPerSecond,
      peakRssMiB: summary.peakRssMiB,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await servers.stop();
  }
}

// `tsx bench/enqueue-throughput.ts 100000,1000000`: the CLI rows alone (after `npm run build`).
if (process.argv[1]?.endsWith("enqueue-throughput.ts")) {
  for (const count of (process.argv[2] ?? "100000").split(",").map(Number)) {
    process.stdout.write(`${JSON.stringify(await measureEnqueueCli(count))}\n`);
  }
}
