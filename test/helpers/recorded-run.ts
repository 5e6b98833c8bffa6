import { enqueueDeletions } from "../../functions/core/producers/enqueue.ts";
import { type LocalPipeline, startLocalPipeline } from "../../local/local-pipeline.ts";
import { SandboxHighLevelApi } from "../../local/sandbox-api.ts";

export interface RecordedRunOptions {
  token: string;
  runId: string;
  runLabel?: string;
  /** The local run's data dir: `report`, `runs show` read the run from it afterwards. */
  dataDir: string;
  /** The run's jobs, made against the sandbox (uploads added, answers scripted). */
  jobs: (sandbox: SandboxHighLevelApi) => Array<{ locationId: string; csvId: string }>;
  /** What to do with the drained pipeline before it stops (its queues are still up). */
  drained?: (pipeline: LocalPipeline) => Promise<void>;
}

/**
 * One small run, recorded as a user's would be: the sandbox API, the local pipeline persisted
 * in `dataDir`, the jobs enqueued with a run id and drained, then everything stopped.
 */
export async function recordRun(options: RecordedRunOptions): Promise<void> {
  const sandbox = new SandboxHighLevelApi({ tokens: [options.token], latencyMs: 1 });
  const baseUrl = await sandbox.start();
  const pipeline = await startLocalPipeline({
    highLevelBaseUrl: baseUrl,
    token: options.token,
    dataDir: options.dataDir,
    functionTimeoutSeconds: 5,
    batchingWindowSeconds: 0,
    maxConcurrency: 1,
    batchSize: 10,
  });
  try {
    const { coordination, dynamoDb } = pipeline.runs;
    if (!coordination || !dynamoDb) throw new Error("no coordination table");
    await enqueueDeletions(options.jobs(sandbox), {
      queueUrl: pipeline.queues.queueUrl,
      client: pipeline.sqs.client,
      runId: options.runId,
      ...(options.runLabel && { runLabel: options.runLabel }),
      coordinationTable: { tableName: coordination.tableName, client: dynamoDb },
    });
    pipeline.poller.start();
    if (!(await pipeline.waitUntilDrained(new AbortController().signal))) {
      throw new Error("the recorded run did not drain");
    }
    await options.drained?.(pipeline);
  } finally {
    await pipeline.stop();
    await sandbox.stop();
  }
}
