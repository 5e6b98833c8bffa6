import { statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { LAMBDA_BUNDLING, LAMBDA_ENTRIES, type LambdaName } from "../infra/lambda-functions.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Bundles one function as the package ships it (dist/lambda/<name>/index.mjs) and as the stack
 * bundles it in this repository: the options of infra/lambda-functions.ts. `external` overrides
 * them for the benchmark's comparison; returns the bundle's size in bytes.
 */
export async function bundleLambda(
  entryOrName: LambdaName | string,
  outfile: string,
  options: { external?: string[] } = {},
): Promise<number> {
  const entry =
    entryOrName in LAMBDA_ENTRIES
      ? join(ROOT, LAMBDA_ENTRIES[entryOrName as LambdaName])
      : entryOrName;
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: LAMBDA_BUNDLING.target,
    minify: LAMBDA_BUNDLING.minify,
    sourcemap: LAMBDA_BUNDLING.sourceMap,
    mainFields: [...LAMBDA_BUNDLING.mainFields],
    external: options.external ?? [...LAMBDA_BUNDLING.external],
    banner: { js: LAMBDA_BUNDLING.banner },
    logLevel: "warning",
  });
  return statSync(outfile).size;
}
