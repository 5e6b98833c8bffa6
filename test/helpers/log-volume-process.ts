/**
 * A local run whose worker logs as deployed (Powertools JSON lines and EMF on stdout): 1,000
 * jobs, `failing` of them refused by HighLevel (dead letters). Prints nothing else on stdout;
 * its counts go to stderr as one JSON line.
 */
import { startLocalPipeline } from "../../local/local-pipeline.ts";
import { SandboxHighLevelApi } from "../../local/sandbox-api.ts";

const jobs = Number(process.argv[2] ?? 1000);
const failing = Number(process.argv[3] ?? 20);
const sandbox = new SandboxHighLevelApi({ tokens: ["log-volume-token"] });
const baseUrl = await sandbox.start();
const bodies = Array.from({ length: jobs }, (_, i) => {
  const upload = sandbox.addUpload(`logLoc${i % 4}`, i < failing ? { status: "importing" } : {});
  return JSON.stringify({ locationId: upload.locationId, csvId: upload._id });
});
let batches = 0;
const pipeline = await startLocalPipeline({
  highLevelBaseUrl: baseUrl,
  token: "log-volume-token",
  functionTimeoutSeconds: 30,
  batchingWindowSeconds: 0,
  perContainerPacing: true,
  onBatch: () => {
    batches += 1;
  },
});
await pipeline.sendBodies(bodies);
pipeline.poller.start();
await pipeline.waitUntilDrained(new AbortController().signal);
await pipeline.stop();
await sandbox.stop();
process.stderr.write(
  `${JSON.stringify({ deleted: pipeline.tally.deleted, deadLettered: pipeline.tally.deadLetteredTotal, batches })}\n`,
);
