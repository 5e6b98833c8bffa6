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
  it("fails on an import cycle (Biome's noImportCycles, part of npm test)", async () => {
    mkdirSync(DIR, { recursive: true });
    writeFileSync(join(DIR, "a.ts"), 'import { b } from "./b.ts";\nexport const a = () => b;\n');
    writeFileSync(join(DIR, "b.ts"), 'import { a } from "./a.ts";\nexport const b = () => a;\n');
    const failure = await run(join(ROOT, "node_modules/.bin/biome"), ["lint", DIR], {
      cwd: ROOT,
    }).then(
      () => undefined,
      (error: { code?: number; stdout?: string; stderr?: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(`${failure?.stdout}${failure?.stderr}`).toContain("noImportCycles");
  });
});
