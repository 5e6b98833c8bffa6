import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { bundleLambda } from "../scripts/bundle-lambda.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface ColdStartResult {
  variant: string;
  bundleBytes: number;
  medianImportMs: number;
  emptyMedianImportMs: number;
  ratio: number;
  runs: number;
}

/** A bundle made exactly as the package ships it (scripts/bundle-lambda.ts), or with the SDK left out. */
async function bundle(entry: string, outfile: string, bundleAwsSdk: boolean): Promise<number> {
  return bundleLambda(entry, outfile, bundleAwsSdk ? {} : { external: ["@aws-sdk/*"] });
}

/** Wall time of a fresh Node process that imports the bundle, in ms (median of `runs`). */
async function medianImport(file: string, runs: number): Promise<number> {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); console.log(performance.now() - t);`;
  const env = {
    ...process.env,
    QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
    DEAD_LETTER_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/jobs-dlq",
    HIGHLEVEL_TOKEN_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:t-AbCdEf",
    AWS_REGION: "us-east-1",
  };
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await run(process.execPath, ["--input-type=module", "-e", script], { env, cwd: ROOT });
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

/**
 * Bundles the worker as the package ships it and the stack deploys it (AWS SDK bundled), a
 * variant that takes the SDK from the runtime, and an empty handler, then times a fresh Node 24
 * process importing each.
 */
export async function measureColdStart(runs = 11): Promise<ColdStartResult[]> {
  // Inside the project, so that an external @aws-sdk/* resolves from node_modules as on Lambda's runtime.
  const dir = mkdtempSync(join(ROOT, ".bench-cold-"));
  try {
    const emptyEntry = join(dir, "empty.ts");
    writeFileSync(emptyEntry, "export const handler = async () => ({ batchItemFailures: [] });\n");
    await bundle(emptyEntry, join(dir, "empty.mjs"), false);
    const emptyMedian = await medianImport(join(dir, "empty.mjs"), runs);
    const results: ColdStartResult[] = [];
    for (const bundleAwsSdk of [false, true]) {
      const outfile = join(dir, `worker-${bundleAwsSdk ? "with" : "without"}-sdk.mjs`);
      const bytes = await bundle(
        join(ROOT, "functions/delete-csv/handler.ts"),
        outfile,
        bundleAwsSdk,
      );
      const median = await medianImport(outfile, runs);
      results.push({
        variant: bundleAwsSdk
          ? "worker as shipped and deployed (dist/lambda/delete-csv, AWS SDK bundled)"
          : "worker with the AWS SDK from the runtime (not deployed)",
        bundleBytes: bytes,
        medianImportMs: median,
        emptyMedianImportMs: emptyMedian,
        ratio: median / emptyMedian,
        runs,
      });
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
