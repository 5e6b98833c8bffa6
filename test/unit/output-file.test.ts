import { spawn } from "node:child_process";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fileStore } from "../../functions/core/auth/secret-stores.ts";
import { createOutputFile, OutputFileError } from "../../functions/core/files/output-file.ts";

const dir = mkdtempSync(join(tmpdir(), "ghl-output-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let cases = 0;
const caseDir = () => {
  cases += 1;
  const path = join(dir, `case-${cases}`);
  mkdirSync(path);
  return path;
};

describe("createOutputFile", () => {
  it("shows readers the old file until commit, then the whole new one; nothing is left beside it", async () => {
    const here = caseDir();
    const target = join(here, "out.jsonl");
    writeFileSync(target, "old\n");
    const file = await createOutputFile(target);
    // Well past one 64 KiB chunk, with characters of every width.
    const line = `${JSON.stringify({ text: "café 日本 🎉" })}\n`;
    for (let i = 0; i < 10_000; i += 1) await file.write(line);
    expect(readFileSync(target, "utf8")).toBe("old\n");
    expect(readdirSync(here)).toHaveLength(2);
    await file.commit();
    await file.discard();
    expect(readFileSync(target, "utf8")).toBe(line.repeat(10_000));
    expect(readdirSync(here)).toEqual(["out.jsonl"]);
  });

  it("discard leaves the target as it was and removes the temporary file", async () => {
    const here = caseDir();
    const target = join(here, "out.csv");
    const file = await createOutputFile(target);
    await file.write("a,b\n");
    await file.discard();
    await file.discard();
    expect(readdirSync(here)).toEqual([]);
  });

  it("refuses a symlink at the target unless asked to write through it, and then keeps the link", async () => {
    const here = caseDir();
    const real = join(here, "real.json");
    writeFileSync(real, "{}");
    const link = join(here, "link.json");
    symlinkSync(real, link);
    const refused = await createOutputFile(link).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OutputFileError);
    expect((refused as OutputFileError).problem).toBe("path");
    expect((refused as Error).message).toBe(
      `${link} is a symlink, not a regular file: it is not replaced (name a file, or write to stdout)`,
    );

    const store = fileStore(link);
    await store.write('{"refreshed":true}');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, "utf8")).toBe('{"refreshed":true}');
    expect(statSync(real).mode & 0o777).toBe(0o600);
    expect(readdirSync(here).sort()).toEqual(["link.json", "real.json"]);
  });

  it("a write that fails part-way is one OutputFileError naming the file; the old file stays, no temporary file", async () => {
    const here = caseDir();
    const target = join(here, "big.csv");
    writeFileSync(target, "previous\n");
    // Under `ulimit -f 1` writes past 1 KiB fail (EFBIG), as writes on a full disk do (ENOSPC).
    const script = `
      import { createOutputFile } from ${JSON.stringify(join(import.meta.dirname, "../../functions/core/files/output-file.ts"))};
      const file = await createOutputFile(process.argv[1]);
      try {
        for (let i = 0; i < 2_000; i += 1) await file.write("x".repeat(99) + "\\n");
        await file.commit();
        console.log("committed");
      } catch (error) {
        console.log(JSON.stringify({ name: error.name, problem: error.problem, code: error.code, message: error.message }));
      } finally {
        await file.discard();
      }`;
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        "bash",
        [
          "-c",
          'ulimit -f 1; exec "$@"',
          "bash",
          process.execPath,
          "--import",
          "tsx",
          "--input-type=module",
          "-e",
          script,
          target,
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      let stdout = "";
      child.stdout.on("data", (chunk) => {
        stdout += chunk;
      });
      child.on("error", reject);
      child.on("close", () => resolve(stdout));
    });
    expect(JSON.parse(output)).toEqual({
      name: "OutputFileError",
      problem: "write",
      code: "EFBIG",
      message: `could not write ${target}: EFBIG: file too large`,
    });
    expect(readFileSync(target, "utf8")).toBe("previous\n");
    expect(readdirSync(here)).toEqual(["big.csv"]);
  });
});
