import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { buildApp } from "../../infra/app.ts";

/** Inside the project, so that bundles resolve the runtime-provided @aws-sdk/* from node_modules. */
export const TEST_CDK_OUT = join(import.meta.dirname, "../../.test-cdk-out");

/** Synthesizes the standalone app (cdk-nag included) with the given context. */
export function synthApp(context: Record<string, unknown> = {}, bundle = false) {
  mkdirSync(TEST_CDK_OUT, { recursive: true });
  const outdir = join(
    TEST_CDK_OUT,
    `app-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
  );
  const app = new App({
    outdir,
    context: bundle ? context : { ...context, "aws:cdk:bundling-stacks": [] },
  });
  const { stack } = buildApp(app);
  const assembly = app.synth();
  return { app, stack, assembly, outdir, template: Template.fromStack(stack) };
}

/** The directory of the worker's bundled asset in a synthesized assembly. */
export function workerAssetDir(outdir: string): string {
  const assetDirs = readdirSync(outdir).filter((name) => name.startsWith("asset."));
  const worker = assetDirs.find((dir) => {
    try {
      return readFileSync(join(outdir, dir, "index.mjs"), "utf8").includes("social-media-posting");
    } catch {
      return false;
    }
  });
  if (!worker) throw new Error(`no worker bundle among ${assetDirs.join(", ")} in ${outdir}`);
  return join(outdir, worker);
}
