/**
 * `npm run build` (and `prepack`): what the package ships, in dist/.
 * - ESM JavaScript and .d.ts of the library, the CLI, the construct and the local runner (tsc);
 * - one prebuilt bundle per Lambda function, dist/lambda/<name>/index.mjs (esbuild, with the
 *   construct's bundling options), which the construct deploys as is.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LAMBDA_ENTRIES, type LambdaName } from "../infra/lambda-functions.ts";
import { bundleLambda } from "./bundle-lambda.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(ROOT, "dist");

rmSync(DIST, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
  {
    cwd: ROOT,
    stdio: "inherit",
  },
);

// tsc rewrites `./x.ts` to `./x.js` in JavaScript but not in declarations: do it there too, so
// that a TypeScript consumer resolves them without allowImportingTsExtensions.
for (const file of walk(DIST)) {
  if (!file.endsWith(".d.ts")) continue;
  const text = readFileSync(file, "utf8");
  const fixed = text.replace(/(from\s+|import\()(["'])(\.{1,2}\/[^"']+)\.ts\2/g, "$1$2$3.js$2");
  if (fixed !== text) writeFileSync(file, fixed);
}
chmodSync(join(DIST, "cli/bin.js"), 0o755);

for (const name of Object.keys(LAMBDA_ENTRIES) as LambdaName[]) {
  const bytes = await bundleLambda(name, join(DIST, "lambda", name, "index.mjs"));
  process.stdout.write(`dist/lambda/${name}/index.mjs  ${Math.round(bytes / 1024)} KiB\n`);
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}
