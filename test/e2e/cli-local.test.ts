import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { SandboxHighLevelApi } from "../../local/sandbox-api.ts";
import { ROOT, runCli, startCli } from "../helpers/run-cli.ts";

const run = promisify(execFile);
const TOKEN = "live-test-token-91ab";

let sandbox: SandboxHighLevelApi | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await sandbox?.stop();
  sandbox = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), "ghl-csv-purge-"));
  dirs.push(dir);
  return dir;
}

describe("npm start", () => {
  it("runs the demo to a drained queue, exits 0 and prints a reconciled summary", async () => {
    const { stdout } = await run("npm", ["start", "--silent", "--", "--json"], {
      cwd: ROOT,
      env: { ...process.env, POWERTOOLS_DEV: "" },
      maxBuffer: 10 * 1024 * 1024,
    });
    const report = JSON.parse(stdout);
    expect(report.reconciled).toBe(true);
    expect(report.sandboxAgrees).toBe(true);
    expect(report.remaining).toBe(0);
    expect(
      report.deleted + report.alreadyAbsent + report.deadLettered + report.duplicatesRemoved,
    ).toBe(report.jobsIn);
    expect(report.deadLetters.byReason).toEqual({ rejected: 8, "invalid-job": 3 });
    expect(report.deadLetters.byReason.throttled).toBeUndefined();
    console.info(
      `demo: ${report.jobsIn} jobs in ${(report.durationMs / 1000).toFixed(1)} s: ${report.deleted} deleted, ${report.alreadyAbsent} already absent, ${report.deadLettered} dead letters, ${report.throttled429} 429s, ${report.deferrals} deferrals, ${report.redeliveries} redeliveries`,
    );
  });
});

describe("ghl-csv-purge local", () => {
  it("prints help with examples and exits 0", async () => {
    const { code, stdout } = await runCli(["local", "--help"]);
    expect(code).toBe(0);
    expect(stdout).toContain("--live");
    expect(stdout).toContain("Examples:");
  });

  it("runs from any directory through bin/ghl-csv-purge, on the project's own Node", async () => {
    const { stdout } = await run(
      "bash",
      ["-c", `${join(ROOT, "bin/ghl-csv-purge")} --help | head -1; echo "exit \${PIPESTATUS[0]}"`],
      {
        cwd: tmpdir(),
        env: { ...process.env, PATH: "/usr/bin:/bin" },
      },
    );
    expect(stdout).toBe("Usage: ghl-csv-purge [options] [command]\nexit 0\n");
  });

  it("exits 2 with one line for an unknown flag", async () => {
    const { code, stderr } = await runCli(["local", "--frobnicate"]);
    expect(code).toBe(2);
    expect(stderr).toContain("unknown option '--frobnicate'");
  });

  it("refuses --live without a token, or without a file, in one line with exit 2", async () => {
    const noToken = await runCli(["local", "--live", "--file", "x.csv"], { HIGHLEVEL_TOKEN: "" });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr.trim()).toBe(
      "ghl-csv-purge: --live needs a HighLevel token in HIGHLEVEL_TOKEN, or --token-file",
    );
    const noFile = await runCli(["local", "--live"], { HIGHLEVEL_TOKEN: TOKEN });
    expect(noFile.code).toBe(2);
    expect(noFile.stderr.trim()).toBe("ghl-csv-purge: --live needs --file <jobs.csv|jobs.jsonl>");
  });

  it("refuses to delete without confirmation when not on a terminal", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "jobs.csv"), "locationId,csvId\nloc1,csv1\n");
    const result = await runCli(
      ["local", "--live", "--file", join(dir, "jobs.csv"), "--data-dir", dir],
      {
        HIGHLEVEL_TOKEN: TOKEN,
      },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("pass --yes");
  });

  it("refuses a file with invalid jobs, naming the line, and sends nothing", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "jobs.csv"), "locationId,csvId\nloc1,csv1\nloc1,../etc\n");
    const result = await runCli(
      ["local", "--live", "--yes", "--file", join(dir, "jobs.csv"), "--data-dir", dir],
      { HIGHLEVEL_TOKEN: TOKEN },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("line 3: csvId: may contain only");
  });

  it("deletes live from a file, resumes after Ctrl-C without repeating work", async () => {
    sandbox = new SandboxHighLevelApi({ tokens: [TOKEN], burst: { max: 20, intervalMs: 1_000 } });
    const baseUrl = await sandbox.start();
    const dir = tempDir();
    const uploads = Array.from(
      { length: 150 },
      () => sandbox?.addUpload("liveLoc") as { _id: string },
    );
    const file = join(dir, "jobs.jsonl");
    writeFileSync(
      file,
      uploads.map((u) => JSON.stringify({ locationId: "liveLoc", csvId: u._id })).join("\n"),
    );
    const args = [
      "local",
      "--live",
      "--yes",
      "--file",
      file,
      "--data-dir",
      join(dir, "queue"),
      "--base-url",
      baseUrl,
    ];

    const first = startCli(args, { HIGHLEVEL_TOKEN: TOKEN });
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if ((sandbox?.count(200) ?? 0) >= 30) {
          clearInterval(check);
          resolve();
        }
      }, 20);
    });
    first.child.kill("SIGINT");
    expect(await first.exit).toBe(1);
    expect(first.stderr()).toContain("run the same command again to resume");
    const deletedBefore = sandbox.count(200);
    expect(deletedBefore).toBeLessThan(150);

    const second = await runCli([...args, "--json"], { HIGHLEVEL_TOKEN: TOKEN });
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout);
    expect(report.resumed).toBe(true);
    expect(report.reconciled).toBe(true);
    expect(sandbox.uploads("liveLoc").every((u) => u.status === "deleted")).toBe(true);
    // No upload was deleted twice: a repeat would have answered 400 (soft-deleted).
    expect(sandbox.count(200)).toBe(150);
    expect(sandbox.count(400)).toBe(0);
    expect(
      sandbox.callsTo("DELETE").every((c) => c.headers.authorization === `Bearer ${TOKEN}`),
    ).toBe(true);
  });

  it("keeps dead letters and redeliveries across an interrupted persisted run, and a finished run stays finished", async () => {
    sandbox = new SandboxHighLevelApi({ tokens: [TOKEN], burst: { max: 100, intervalMs: 1_000 } });
    const baseUrl = await sandbox.start();
    const dir = tempDir();
    const deletable = Array.from({ length: 100 }, () => sandbox?.addUpload("persistLoc"));
    // HighLevel refuses to delete an upload that is still importing: 40 dead letters.
    const refused = Array.from({ length: 40 }, () =>
      sandbox?.addUpload("persistLoc", { status: "importing" }),
    );
    const flaky = deletable.slice(0, 3) as { _id: string }[];
    for (const upload of flaky) sandbox.script("persistLoc", upload._id, [500, 500, 500]);
    const file = join(dir, "jobs.csv");
    writeFileSync(
      file,
      `locationId,csvId\n${[...deletable, ...refused].map((u) => `persistLoc,${u?._id}`).join("\n")}\n`,
    );
    const args = [
      ...["local", "--live", "--yes", "--file", file, "--data-dir", join(dir, "queue")],
      ...["--base-url", baseUrl, "--function-timeout", "3"],
    ];

    const first = startCli(args, { HIGHLEVEL_TOKEN: TOKEN });
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if ((sandbox?.count(422) ?? 0) >= 5) {
          clearInterval(check);
          resolve();
        }
      }, 20);
    });
    first.child.kill("SIGINT");
    expect(await first.exit).toBe(1);
    expect(first.stderr()).not.toContain("ERR_SQLITE_ERROR");
    expect(first.stderr()).toContain("run the same command again to resume");

    const second = await runCli([...args, "--json"], { HIGHLEVEL_TOKEN: TOKEN });
    expect(second.stderr).not.toContain("ERR_SQLITE_ERROR");
    expect(second.code).toBe(0);
    const resumed = JSON.parse(second.stdout);
    expect(resumed).toMatchObject({ resumed: true, reconciled: true, remaining: 0 });
    expect(sandbox.uploads("persistLoc").filter((u) => u.status === "deleted")).toHaveLength(100);
    // Each flaky upload failed three times, came back after the short local visibility, then went.
    for (const upload of flaky) {
      expect(sandbox.callsTo("DELETE", upload._id)).toHaveLength(4);
    }

    const third = await runCli(args, { HIGHLEVEL_TOKEN: TOKEN });
    expect(third.code).toBe(0);
    expect(third.stdout).toContain("was finished by an earlier run");
    expect(third.stdout).toContain("dead-lettered 40");
    expect(third.stdout).not.toMatch(/ -\d/);

    const again = await runCli([...args, "--restart", "--json"], { HIGHLEVEL_TOKEN: TOKEN });
    const rerun = JSON.parse(again.stdout);
    // Run again: the deleted ones are already absent, the refused ones refused again.
    expect(rerun).toMatchObject({ alreadyAbsent: 100, deadLettered: 40, reconciled: true });
  }, 120_000);
});
