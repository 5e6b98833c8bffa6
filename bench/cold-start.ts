import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";

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

/** The stack's bundling options (infra/csv-deletion-pipeline.ts), applied with esbuild directly. */
async function bundle(entry: string, outfile: string, bundleAwsSdk: boolean): Promise<number> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    minify: true,
    mainFields: ["module", "main"],
    external: bundleAwsSdk ? [] : ["@aws-sdk/*"],
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: "silent",
  });
  return statSync(outfile).size;
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
 * Bundles the worker as the stack does (and a variant with the AWS SDK bundled in) and an
 * empty handler the same way, then times a fresh Node 24 process importing each.
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
          ? "worker, AWS SDK bundled (not what the stack deploys today)"
          : "worker, AWS SDK from the runtime (as the stack deploys it)",
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
