import { execFile } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const DIR = join(ROOT, `cycle-check-${process.pid}`);
const run = promisify(execFile);

afterAll(() => rmSync(DIR, { recursive: true, force: true }));

describe("the linter", () => {
  it.each([
    [
      "a value import cycle",
      'import { b } from "./b.ts";\nexport const a = () => b;\n',
      'import { a } from "./a.ts";\nexport const b = () => a;\n',
    ],
    [
      "a type-only import cycle",
      'import type { B } from "./b.ts";\nexport interface A {\n  b?: B;\n}\n',
      'import type { A } from "./a.ts";\nexport interface B {\n  a?: A;\n}\n',
    ],
  ])("fails on %s (Biome's noImportCycles, part of npm test)", async (name, a, b) => {
    const dir = join(DIR, name.replaceAll(" ", "-"));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "a.ts"), a);
    writeFileSync(join(dir, "b.ts"), b);
    const failure = await run(join(ROOT, "node_modules/.bin/biome"), ["lint", dir], {
      cwd: ROOT,
    }).then(
      () => undefined,
      (error: { code?: number; stdout?: string; stderr?: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(`${failure?.stdout}${failure?.stderr}`).toContain("noImportCycles");
  });
});
