import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  Architecture,
  Code,
  type FunctionOptions,
  Function as LambdaFunction,
  Runtime,
} from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import type { Construct } from "constructs";

/** The Lambda functions of the package, by name: their handler modules in the source tree. */
export const LAMBDA_ENTRIES = {
  "delete-csv": "functions/delete-csv/handler.ts",
  "plan-purge": "functions/plan-purge/handler.ts",
  "refresh-token": "functions/refresh-token/handler.ts",
} as const;

export type LambdaName = keyof typeof LAMBDA_ENTRIES;

/**
 * How every function is bundled, shared by CDK's bundling (in this repository), the prebuilt
 * bundles `npm pack` ships (scripts/build.ts) and the cold-start benchmark. The AWS SDK is
 * bundled, not taken from the runtime: one tree-shaken file imports faster (bench/RESULTS.md)
 * and pins the SDK version the tests ran with.
 */
export const LAMBDA_BUNDLING = {
  target: "node24",
  minify: true,
  sourceMap: true,
  mainFields: ["module", "main"],
  external: [] as string[],
  // Some dependencies are CommonJS and call require(); give the ESM bundle one.
  banner:
    "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
} as const;

const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * The directory of a function's prebuilt bundle (`dist/lambda/<name>/index.mjs`, made by
 * `npm pack`), when this construct runs from the package; undefined in the source tree.
 */
export function prebuiltBundle(name: LambdaName): string | undefined {
  const dir = fileURLToPath(new URL(`../lambda/${name}/`, import.meta.url));
  return existsSync(`${dir}index.mjs`) ? dir : undefined;
}

/**
 * One of the package's functions on nodejs24.x, arm64: from its prebuilt bundle when there is
 * one (a consumer's synth then needs no esbuild, lock file or Docker), else bundled from source
 * with local esbuild.
 */
export function packageFunction(
  scope: Construct,
  id: string,
  name: LambdaName,
  options: FunctionOptions,
): LambdaFunction {
  const common = { ...options, runtime: Runtime.NODEJS_24_X, architecture: Architecture.ARM_64 };
  const prebuilt = prebuiltBundle(name);
  if (prebuilt) {
    return new LambdaFunction(scope, id, {
      ...common,
      code: Code.fromAsset(prebuilt),
      handler: "index.handler",
    });
  }
  return new NodejsFunction(scope, id, {
    ...common,
    entry: `${PROJECT_ROOT}${LAMBDA_ENTRIES[name]}`,
    handler: "handler",
    projectRoot: PROJECT_ROOT,
    depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
    bundling: {
      format: OutputFormat.ESM,
      target: LAMBDA_BUNDLING.target,
      minify: LAMBDA_BUNDLING.minify,
      sourceMap: LAMBDA_BUNDLING.sourceMap,
      mainFields: [...LAMBDA_BUNDLING.mainFields],
      externalModules: LAMBDA_BUNDLING.external,
      banner: LAMBDA_BUNDLING.banner,
      forceDockerBundling: false,
    },
  });
}
