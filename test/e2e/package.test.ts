import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/run-cli.ts";

/**
 * The package as a user gets it (issue #14): `npm pack`, then install the tarball into a fresh
 * project (offline: npm's cache holds what `npm ci` fetched) and use it the three ways in.
 */
const run = promisify(execFile);
const NODE_BIN = dirname(process.execPath);
/** npm on this project's Node (the host's may be older): the one running `npm test`, else PATH's. */
const npm = (args: string[], cwd: string) =>
  process.env.npm_execpath
    ? run(process.execPath, [process.env.npm_execpath, ...args], {
        cwd,
        env: userEnv(),
        maxBuffer: 64 << 20,
      })
    : run("npm", args, { cwd, env: userEnv(), maxBuffer: 64 << 20 });
/** The user's environment (certificates, npm's settings) with this project's Node first on PATH. */
const userEnv = () => {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith("VITEST")) delete env[name];
  return { ...env, PATH: `${NODE_BIN}:${process.env.PATH ?? ""}` };
};

let work: string;
let tarball: string;
let files: string[];
let consumer: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ghl-pack-"));
  const { stdout } = await npm(["pack", "--json", "--pack-destination", work], ROOT);
  const packed = JSON.parse(stdout.slice(stdout.indexOf("["))) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  tarball = join(work, packed[0]?.filename ?? "");
  files = packed[0]?.files.map((f) => f.path) ?? [];

  consumer = join(work, "consumer");
  const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  await run("mkdir", ["-p", consumer]);
  writeFileSync(
    join(consumer, "package.json"),
    JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }),
  );
  await npm(
    [
      "install",
      tarball,
      `aws-cdk-lib@${manifest.devDependencies["aws-cdk-lib"]}`,
      `constructs@${manifest.devDependencies.constructs}`,
      // A TypeScript consumer on Node has Node's types (the AWS SDK's declarations need them).
      `@types/node@${manifest.devDependencies["@types/node"]}`,
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
    ],
    consumer,
  );
}, 600_000);
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("the package from its tarball", () => {
  it("ships dist/ (library, CLI, construct, one prebuilt bundle per function) and no tests or benchmarks", () => {
    expect(files).toContain("dist/cli/bin.js");
    expect(files).toContain("dist/functions/core/index.js");
    expect(files).toContain("dist/functions/core/index.d.ts");
    expect(files).toContain("dist/infra/index.js");
    for (const name of ["delete-csv", "plan-purge", "refresh-token"]) {
      expect(files).toContain(`dist/lambda/${name}/index.mjs`);
    }
    expect(
      files.filter(
        (f) =>
          /^(test|bench|scripts|\.ci)\//.test(f) || (f.endsWith(".ts") && !f.endsWith(".d.ts")),
      ),
    ).toEqual([]);
    const installed = join(consumer, "node_modules/ghl-csv-purge");
    const size = duBytes(installed);
    process.stdout.write(
      `package: tarball ${Math.round(statSync(tarball).size / 1024)} KiB, installed ${Math.round(size / 1024)} KiB (the package itself), node_modules ${Math.round(duBytes(join(consumer, "node_modules")) / 2 ** 20)} MiB with aws-cdk-lib\n`,
    );
    expect(size).toBeLessThan(20 * 2 ** 20);
  });

  it("runs the CLI on the user's Node: --version and every verb's --help", async () => {
    const bin = join(consumer, "node_modules/.bin/ghl-csv-purge");
    const version = await run(bin, ["--version"], { env: userEnv() });
    expect(version.stdout.trim()).toBe(
      JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version,
    );
    for (const verb of [
      ["local"],
      ["enqueue"],
      ["purge"],
      ["dlq", "inspect"],
      ["dlq", "redrive"],
      ["auth", "connect"],
      ["auth", "status"],
      ["auth", "refresh"],
    ]) {
      const help = await run(bin, [...verb, "--help"], { env: userEnv() });
      expect(help.stdout).toContain("Usage: ghl-csv-purge");
    }
  });

  it("imports the library from plain JavaScript", async () => {
    writeFileSync(
      join(consumer, "use.mjs"),
      `import { parseDeletionJob, parsePurgePolicy, enqueueDeletions } from "ghl-csv-purge";
console.log(JSON.stringify({ job: parseDeletionJob('{"locationId":"ve9EPM428h8vShlRW1KT","csvId":"65f92e55cc884f0d0845e447"}'), bad: parseDeletionJob("{}").ok, statuses: parsePurgePolicy({ locationIds: ["a"] }).statuses, enqueue: typeof enqueueDeletions }));`,
    );
    const { stdout } = await run(process.execPath, ["use.mjs"], { cwd: consumer, env: userEnv() });
    expect(JSON.parse(stdout)).toEqual({
      job: {
        ok: true,
        job: { locationId: "ve9EPM428h8vShlRW1KT", csvId: "65f92e55cc884f0d0845e447" },
      },
      bad: false,
      statuses: ["completed", "failed"],
      enqueue: "function",
    });
  });

  it("type-checks a TypeScript consumer against the .d.ts files", async () => {
    writeFileSync(
      join(consumer, "consumer.ts"),
      `import { type DeletionJob, parseDeletionJob, type EnqueueReport } from "ghl-csv-purge";
import { CsvDeletionPipeline, type CsvDeletionPipelineProps } from "ghl-csv-purge/cdk";
const job: DeletionJob = { locationId: "a", csvId: "b" };
const parsed = parseDeletionJob(JSON.stringify(job));
const props: CsvDeletionPipelineProps = { maxConcurrency: 3, purgeSchedules: [{ name: "n", schedule: "rate(1 day)", policy: { locationIds: ["a"] } }] };
export const report: EnqueueReport | undefined = parsed.ok ? undefined : undefined;
export { CsvDeletionPipeline, props };
`,
    );
    writeFileSync(
      join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          types: ["node"],
        },
        files: ["consumer.ts"],
      }),
    );
    await run(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "."], {
      cwd: consumer,
      env: userEnv(),
    });
  });

  it("synthesizes a consumer's CDK app offline, deploying the prebuilt worker bundle", async () => {
    writeFileSync(
      join(consumer, "app.mjs"),
      `import { App, Stack } from "aws-cdk-lib";
import { CsvDeletionPipeline } from "ghl-csv-purge/cdk";
const app = new App({ outdir: "cdk.out" });
const stack = new Stack(app, "ConsumerStack");
new CsvDeletionPipeline(stack, "Purge", { maxConcurrency: 3, workerConcurrency: 4 });
app.synth();
`,
    );
    await run(process.execPath, ["app.mjs"], { cwd: consumer, env: userEnv() });
    const template = JSON.parse(
      readFileSync(join(consumer, "cdk.out/ConsumerStack.template.json"), "utf8"),
    );
    const functions = Object.entries(
      template.Resources as Record<
        string,
        { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, string> }
      >,
    ).filter(([, r]) => r.Type === "AWS::Lambda::Function");
    const [, worker] = functions.find(([id]) => id.includes("Worker")) ?? [];
    expect(worker?.Properties.Handler).toBe("index.handler");
    const key = String((worker?.Properties.Code as { S3Key?: string } | undefined)?.S3Key).replace(
      /\.zip$/,
      "",
    );
    const assets = JSON.parse(
      readFileSync(join(consumer, "cdk.out/ConsumerStack.assets.json"), "utf8"),
    ) as { files: Record<string, { source: { path: string } }> };
    const assetDir = join(consumer, "cdk.out", assets.files[key]?.source.path ?? "missing");
    const shipped = readFileSync(
      join(consumer, "node_modules/ghl-csv-purge/dist/lambda/delete-csv/index.mjs"),
    );
    expect(readFileSync(join(assetDir, "index.mjs")).equals(shipped)).toBe(true);
    expect(JSON.stringify(template)).toContain('"MaximumConcurrency":3');
  });
});

function duBytes(path: string): number {
  const stats = statSync(path);
  if (!stats.isDirectory()) return stats.size;
  return readdirSync(path).reduce((sum, entry) => sum + duBytes(join(path, entry)), 0);
}
