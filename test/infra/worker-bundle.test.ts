import { execFile } from "node:child_process";
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toSqsEvent } from "../../local/sqs-event.ts";
import { synthApp, workerAssetDir } from "../helpers/synth.ts";
import { startWorkerHarness, type WorkerHarness } from "../helpers/worker-harness.ts";

const run = promisify(execFile);

/** Imports the bundle in a fresh Node process, as Lambda would, and invokes it once. */
const INVOKE = `
const event = JSON.parse(process.env.TEST_EVENT);
const { handler } = await import(process.env.BUNDLE_URL);
const deadline = Date.now() + 30000;
const context = { functionName: "worker", awsRequestId: "bundle-test", invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:worker", memoryLimitInMB: "256", getRemainingTimeInMillis: () => deadline - Date.now() };
const result = await handler(event, context);
console.log("RESULT " + JSON.stringify(result));
`;

let outdir: string;
let bundle: string;
let harness: WorkerHarness;
beforeAll(async () => {
  const synth = synthApp({}, true);
  outdir = synth.outdir;
  bundle = join(workerAssetDir(outdir), "index.mjs");
  harness = await startWorkerHarness();
});
afterAll(async () => {
  await harness.stop();
  rmSync(outdir, { recursive: true, force: true });
});

describe("the bundled worker asset", () => {
  it("is an ESM bundle small enough to start fast", () => {
    const size = statSync(bundle).size;
    expect(size).toBeGreaterThan(20_000);
    expect(size).toBeLessThan(2_000_000);
  });

  it("deletes, dead-letters and reports like the source does, in a fresh Node process", async () => {
    const h = harness;
    const deletable = h.sandbox.addUpload("locB");
    const importing = h.sandbox.addUpload("locB", { status: "importing" });
    const event = toSqsEvent(
      [
        {
          MessageId: "m-ok",
          Body: h.job("locB", deletable._id),
          Attributes: { ApproximateReceiveCount: "1" },
        },
        {
          MessageId: "m-422",
          Body: h.job("locB", importing._id),
          Attributes: { ApproximateReceiveCount: "1" },
        },
        { MessageId: "m-bad", Body: "{nope", Attributes: { ApproximateReceiveCount: "1" } },
      ],
      h.queues.queueArn,
    );

    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", INVOKE], {
      env: {
        ...process.env,
        ...h.env,
        POWERTOOLS_DEV: "",
        BUNDLE_URL: pathToFileURL(bundle).href,
        TEST_EVENT: JSON.stringify(event),
      },
    });

    const result = JSON.parse(
      stdout
        .split("\n")
        .find((l) => l.startsWith("RESULT "))
        ?.slice(7) ?? "null",
    );
    expect(result).toEqual({ batchItemFailures: [] });
    expect(h.sandbox.upload("locB", deletable._id)?.status).toBe("deleted");
    expect(
      h
        .deadLetters()
        .map((d) => d.attributes["failure-reason"])
        .sort(),
    ).toEqual(["invalid-job", "rejected"]);
    // At INFO: one line for the batch, and one WARN per dead letter; no line per deleted job.
    expect(stdout).toContain('"message":"batch settled"');
    expect(stdout).toContain('"deleted":1');
    expect(stdout).not.toContain('"message":"job deleted"');
  });
});
