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
  const servers = await startServers({
    sandbox: { tokens: [] },
    locations: [],
    jobs: 0,
    visibilityTimeoutSeconds: 30,
    enqueue: false,
  });
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
