import { execFileSync, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordRun } from "../helpers/recorded-run.ts";
import { ROOT, runCli } from "../helpers/run-cli.ts";

const TOKEN = "output-files-token-5d1e";
const RUN = "output-files-run";
const JOBS = 40;
const dir = mkdtempSync(join(tmpdir(), "ghl-output-files-"));
const dataDir = join(dir, "data");
const stores = ["--data-dir", dataDir];
let expectedCsv = "";

beforeAll(async () => {
  await recordRun({
    token: TOKEN,
    runId: RUN,
    dataDir,
    jobs: (sandbox) =>
      Array.from({ length: JOBS }, () => ({
        locationId: "fileLoc",
        csvId: sandbox.addUpload("fileLoc")._id,
      })),
  });
  const csv = await runCli(["report", RUN, ...stores, "--quiet"]);
  expect(csv.code).toBe(0);
  expectedCsv = csv.stdout;
  // A header and one row per job.
  expect(expectedCsv.trim().split("\n")).toHaveLength(JOBS + 1);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh directory for one case: what is in it afterwards is what the CLI left. */
function caseDir(name: string): string {
  const path = join(dir, name);
  mkdirSync(path);
  return path;
}

/** One line on stderr, the CLI's own, no stack trace. */
function expectOneLine(stderr: string, ...parts: string[]) {
  const lines = stderr.trim().split("\n");
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^ghl-csv-purge: /);
  for (const part of parts) expect(lines[0]).toContain(part);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe("report --out, as a careful Unix tool writes a file", () => {
  it("writes the report whole, replaces an existing file keeping its mode, and leaves nothing beside it", async () => {
    const here = caseDir("plain");
    const out = join(here, "run.csv");
    writeFileSync(out, "old contents\n", { mode: 0o640 });
    const run = await runCli(["report", RUN, ...stores, "--out", out]);
    expect(run.code, run.stderr).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(expectedCsv);
    expect(statSync(out).mode & 0o777).toBe(0o640);
    expect(readdirSync(here)).toEqual(["run.csv"]);
  });

  it("does not follow a symlink planted at the old temporary name, nor one at --out", async () => {
    const here = caseDir("links");
    const victim = join(here, "victim.txt");
    writeFileSync(victim, "precious\n");
    const out = join(here, "run.csv");
    symlinkSync(victim, `${out}.partial`);
    const first = await runCli(["report", RUN, ...stores, "--out", out]);
    expect(first.code, first.stderr).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(expectedCsv);
    expect(readFileSync(victim, "utf8")).toBe("precious\n");

    const link = join(here, "link.csv");
    symlinkSync(victim, link);
    const second = await runCli(["report", RUN, ...stores, "--out", link]);
    expect(second.code).toBe(2);
    expectOneLine(second.stderr, link, "is a symlink, not a regular file");
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(readdirSync(here).sort()).toEqual([
      "link.csv",
      "run.csv",
      "run.csv.partial",
      "victim.txt",
    ]);
  });

  it("refuses a FIFO, a directory and a device at --out, replacing none of them", async () => {
    const here = caseDir("special");
    const fifo = join(here, "pipe.csv");
    execFileSync("mkfifo", [fifo]);
    const somedir = join(here, "somedir.csv");
    mkdirSync(somedir);
    const targets: Array<[string, string]> = [
      [fifo, "is a FIFO"],
      [somedir, "is a directory"],
    ];
    if (existsSync("/dev/full")) targets.push(["/dev/full", "is a device"]);
    // One at a time: a data dir's embedded table is opened by one process at a time.
    for (const [target, kind] of targets) {
      const run = await runCli(["report", RUN, ...stores, "--out", target, "--format", "csv"]);
      expect(run.code, run.stderr).toBe(2);
      expectOneLine(run.stderr, target, kind, "not replaced");
    }
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(lstatSync(somedir).isDirectory()).toBe(true);
    expect(readdirSync(somedir)).toEqual([]);
    if (existsSync("/dev/full")) expect(lstatSync("/dev/full").isCharacterDevice()).toBe(true);
    expect(readdirSync(here).sort()).toEqual(["pipe.csv", "somedir.csv"]);
  });

  it("names the path when the file cannot be created there (missing directory, a file as directory): exit 2", async () => {
    const here = caseDir("uncreatable");
    writeFileSync(join(here, "plain"), "x");
    const missing = await runCli([
      "report",
      RUN,
      ...stores,
      "--out",
      join(here, "missing-dir", "r.csv"),
    ]);
    const underFile = await runCli([
      "report",
      RUN,
      ...stores,
      "--out",
      join(here, "plain", "r.csv"),
    ]);
    expect(missing.code).toBe(2);
    expectOneLine(missing.stderr, join(here, "missing-dir", "r.csv"), "ENOENT");
    expect(underFile.code).toBe(2);
    expectOneLine(underFile.stderr, join(here, "plain", "r.csv"), "ENOTDIR");
    expect(readdirSync(here)).toEqual(["plain"]);
  });

  it("stdout on a full device exits 1 in one line; a reader that stops early (| head) is not a failure", async () => {
    const full = existsSync("/dev/full");
    if (full) {
      const descriptor = openSync("/dev/full", "w");
      try {
        const run = await runWithStdout(["report", RUN, ...stores], descriptor);
        expect(run.code, run.stderr).toBe(1);
        expectOneLine(run.stderr, "could not write to stdout", "ENOSPC");
      } finally {
        closeSync(descriptor);
      }
    }
    const head = spawn(
      process.execPath,
      ["--import", "tsx", join(ROOT, "cli/main.ts"), "report", RUN, ...stores, "--format", "jsonl"],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, POWERTOOLS_DEV: "" } },
    );
    let stderr = "";
    head.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    // Like `| head -1`: the first chunk read, then the pipe closed.
    head.stdout.once("data", () => head.stdout.destroy());
    const code = await new Promise<number>((resolve) => head.on("close", (c) => resolve(c ?? -1)));
    expect(code, stderr).toBe(0);
    expect(stderr).not.toContain("ghl-csv-purge:");
  });
});

function runWithStdout(args: string[], stdout: number) {
  return runWith(process.execPath, ["--import", "tsx", join(ROOT, "cli/main.ts"), ...args], stdout);
}

function runWith(
  command: string,
  args: string[],
  stdout: "pipe" | number,
): Promise<{ code: number; stderr: string }> {
  const child = spawn(command, args, {
    cwd: ROOT,
    stdio: ["ignore", stdout, "pipe"],
    env: { ...process.env, POWERTOOLS_DEV: "" },
  });
  let stderr = "";
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  child.stdout?.resume();
  return new Promise((resolve) =>
    child.on("close", (code) => resolve({ code: code ?? -1, stderr })),
  );
}
